"""Parsed Haier records to rows of the analysts' tables (Arrow), in bulk.

The client has already mapped Haier's field names to ours (``haier/fields.py``) and rejected
what it could not parse. What is left here is table shape: one stock row per product and
county out of several warehouses, exact-scale checks before a DECIMAL column, and rejected
records as ``sync_rejects`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from haier_pipeline.haier.records import Price, Product, RejectedRecord, StockLevel
from haier_pipeline.storage.schema import MONEY, PRICES, PRODUCTS, RATE, STOCK, SYNC_REJECTS

_CENT = Decimal("0.01")
_BASIS_POINT = Decimal("0.0001")


def product_rows(products: Iterable[Product], synced_at: datetime) -> pa.Table:
    """A record's attributes are named as the table's columns: ``to_arrow`` picks them."""
    return PRODUCTS.to_arrow([{**vars(p), "synced_at": synced_at} for p in products])


def price_rows(
    prices: Iterable[Price], synced_at: datetime
) -> tuple[pa.Table, list[RejectedRecord]]:
    """Rows for ``prices``; a price with more decimals than its column holds is rejected."""
    rows: list[dict[str, Any]] = []
    rejected: list[RejectedRecord] = []
    for price in prices:
        problem = _scale_problem(price)
        if problem:
            rejected.append(RejectedRecord("price", price.product_code, problem, repr(price)))
            continue
        rows.append({**vars(price), "synced_at": synced_at})
    return PRICES.to_arrow(rows), rejected


def _scale_problem(price: Price) -> str | None:
    checks = (
        ("supply_price", price.supply_price, _CENT, MONEY),
        ("invoice_price", price.invoice_price, _CENT, MONEY),
        ("rebate_money", price.rebate_money, _CENT, MONEY),
        ("direct_discount_rate", price.direct_discount_rate, _BASIS_POINT, RATE),
    )
    for name, value, quantum, arrow_type in checks:
        if value is None:
            continue
        if value != value.quantize(quantum) or abs(value) >= Decimal(10) ** (
            arrow_type.precision - arrow_type.scale
        ):
            return (
                f"{name} {value} does not fit DECIMAL({arrow_type.precision},{arrow_type.scale}); "
                "it was not rounded. Ask Haier to confirm the price."
            )
    return None


def stock_row(
    product_code: str, county_code: str, levels: Sequence[StockLevel], synced_at: datetime
) -> dict[str, Any]:
    """One row per product and county: stock summed over warehouses, timeliness of the main one.

    The main warehouse is the local one (grade "0") with the most stock, else the upper-level
    one with the most stock: the warehouse an order would most likely ship from.
    """
    main = max(levels, key=lambda s: (s.warehouse_grade == "0", s.stock_qty)) if levels else None
    return {
        **dict.fromkeys(STOCK.column_names),  # no warehouse: no timeliness, not a guess
        **(vars(main) if main else {}),  # the main warehouse's timeliness, by column name
        "product_code": product_code,
        "county_code": county_code,
        "stock_qty": sum(s.stock_qty for s in levels),
        "warehouse_count": len(levels),
        "synced_at": synced_at,
    }


def reject_rows(
    run_id: str, sync_type: str, rejected: Iterable[RejectedRecord], at: datetime
) -> pa.Table:
    rows = [
        {
            "run_id": run_id,
            "sync_type": sync_type,
            "record_key": r.key,
            "reason": r.reason,
            "raw": r.raw,
            "rejected_at": at,
        }
        for r in rejected
    ]
    return SYNC_REJECTS.to_arrow(rows)


def stock_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return STOCK.to_arrow(rows)
