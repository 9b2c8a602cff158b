"""Order files from shops: model, validation and the inbox, free of Dagster."""

from haier_pipeline.orders.inbox import archive, file_fingerprint, pending_files, read_order_file
from haier_pipeline.orders.model import (
    Order,
    OrderDefaults,
    OrderItem,
    from_epoch_ms,
    is_delivery_install,
    to_epoch_ms,
)
from haier_pipeline.orders.validation import InvalidOrder, check_catalog, check_stock, parse_order

__all__ = [
    "InvalidOrder",
    "Order",
    "OrderDefaults",
    "OrderItem",
    "archive",
    "check_catalog",
    "check_stock",
    "file_fingerprint",
    "from_epoch_ms",
    "is_delivery_install",
    "parse_order",
    "pending_files",
    "read_order_file",
    "to_epoch_ms",
]
