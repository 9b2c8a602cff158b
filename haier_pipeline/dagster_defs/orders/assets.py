"""The order tables as assets: ``orders`` and ``logistics_events``.

They are written by ops (push_orders, apply_callbacks, track_logistics) rather than computed
as a whole, so they are declared as specs the ops report materializations on: the UI then
shows when each table last changed and which run changed it.
"""

from haier_pipeline.dagster_defs.conventions import table_spec
from haier_pipeline.storage.schema import DELIVERY_PHOTOS, LOGISTICS_EVENTS, ORDERS, PRODUCTS

ORDERS_GROUP = "orders"

ORDER_ASSETS = [
    # Each order is validated against its account's products before it is pushed.
    table_spec(ORDERS, ORDERS_GROUP, [PRODUCTS.name]),
    table_spec(LOGISTICS_EVENTS, ORDERS_GROUP, [ORDERS.name]),
    table_spec(DELIVERY_PHOTOS, ORDERS_GROUP, [ORDERS.name]),
]
