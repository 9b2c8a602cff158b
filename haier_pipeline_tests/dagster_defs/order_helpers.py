"""Shared steps of the order job tests: a synced catalog, order files, the rows they leave."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

COUNTY = "110101"
PRICE = "1999.00"
ORDER_COLUMNS = (
    "so_id, online_no, retail_order_no, ext_order_no, status, total_amt, county_code, "
    "source_file, last_error, push_attempts, logistics_status"
)


def inbox() -> Path:
    folder = Path(os.environ["HAIER_ORDER_INBOX"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def processed(outcome: str) -> list[str]:
    folder = inbox().parent / "processed" / outcome
    return sorted(path.name for path in folder.glob("*.json")) if folder.is_dir() else []


def stock_of(sandbox: SandboxServer, code: str, county: str = COUNTY) -> int:
    return sum(level.qty for level in sandbox.catalog.stock(code, county))


def stocked_codes(sandbox: SandboxServer, count: int, at_least: int = 2) -> list[str]:
    """Procurable products with at least ``at_least`` units in COUNTY, in catalog order."""
    codes = [p.code for p in sandbox.catalog.procurable if stock_of(sandbox, p.code) >= at_least]
    assert len(codes) >= count, "the sandbox catalog has too few stocked products"
    return codes[:count]


def unstocked_code(sandbox: SandboxServer) -> str:
    return next(p.code for p in sandbox.catalog.procurable if stock_of(sandbox, p.code) == 0)


def drop_order(so_id: str, code: str, qty: int = 1, **overrides: Any) -> Path:
    """Write a valid one-line order (unless ``overrides`` break it) into the inbox."""
    return write_order_file(inbox(), make_order_dict(so_id, ((code, qty, PRICE),), **overrides))


def push_valid_orders(pipeline: Pipeline, count: int) -> list[str]:
    """Push ``count`` orders through push_orders; returns their soIds."""
    so_ids = [f"SO-T{i:03d}" for i in range(count)]
    for so_id, code in zip(so_ids, stocked_codes(pipeline.sandbox, count), strict=True):
        drop_order(so_id, code)
    assert pipeline.run("push_orders").success
    return so_ids


def orders(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The orders table as analysts see it (the published file), by soId."""
    names = [name.strip() for name in ORDER_COLUMNS.split(",")]
    rows = pipeline.rows(f"SELECT {ORDER_COLUMNS} FROM orders")
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def amount(text: str, qty: int = 1) -> Decimal:
    return Decimal(text) * qty
