"""The tables analysts query, declared once.

Each column is declared with its DuckDB type and its Arrow type side by side, so the DDL and
the bulk-load schema cannot drift apart. The names are the ones ``shared/contract.md``
promises; renaming one needs a migration and a README note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(9, 4)
TS = pa.timestamp("us", tz="UTC")

_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.date32(): "DATE",
    MONEY: "DECIMAL(18,2)",
    RATE: "DECIMAL(9,4)",
    TS: "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
}


@dataclass(frozen=True)
class Table:
    """A published table: its columns (Arrow types), its key and a one-line description."""

    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    key: tuple[str, ...]
    description: str

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(list(self.columns))

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def to_arrow(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """Rows as an Arrow table of this schema: exact decimals, tz-aware times, for bulk loads."""
        schema = self.arrow_schema
        return pa.table({n: [row.get(n) for row in rows] for n in schema.names}, schema=schema)

    @property
    def duckdb_columns(self) -> list[tuple[str, str]]:
        """Each column with its DuckDB type, as the DDL declares it and analysts see it."""
        return [(col, _DUCKDB_TYPES[typ]) for col, typ in self.columns]

    def ddl(self, name: str | None = None) -> str:
        """CREATE TABLE statement; ``name`` lets the publisher build a replacement beside it."""
        cols = [f"{col} {typ}" for col, typ in self.duckdb_columns]
        if self.key:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {name or self.name} ({', '.join(cols)})"


PRODUCTS = Table(
    "products",
    (
        ("product_code", pa.string()),
        ("product_model", pa.string()),
        ("product_group", pa.string()),
        ("brand", pa.string()),
        ("image_url", pa.string()),
        ("leaflet_urls", pa.list_(pa.string())),
        ("is_procurable", pa.bool_()),
        ("not_procurable_reason", pa.string()),
        ("synced_at", TS),
    ),
    ("product_code",),
    "Haier products this customer may buy (and requested ones it may not, with the reason).",
)

PRICES = Table(
    "prices",
    (
        ("product_code", pa.string()),
        ("supply_price", MONEY),
        ("invoice_price", MONEY),
        ("direct_discount_rate", RATE),
        ("rebate_money", MONEY),
        ("rebate_type", pa.string()),
        ("is_procurable", pa.bool_()),
        ("price_note", pa.string()),
        ("synced_at", TS),
    ),
    ("product_code",),
    "Supply and invoice price per product; supply_price is NULL when no price is in force.",
)

STOCK = Table(
    "stock",
    (
        ("product_code", pa.string()),
        ("county_code", pa.string()),
        ("stock_qty", pa.int32()),
        ("warehouse_code", pa.string()),
        ("warehouse_grade", pa.string()),
        ("cut_time", pa.string()),
        ("expected_delivery_date", pa.date32()),
        ("delivery_hours", pa.int32()),
        ("is_transfer", pa.bool_()),
        ("warehouse_count", pa.int32()),
        ("synced_at", TS),
    ),
    ("product_code", "county_code"),
    "Available stock per procurable product and county, summed over the warehouses that serve it.",
)

SYNC_LOG = Table(
    "sync_log",
    (
        ("id", pa.int64()),
        ("run_id", pa.string()),
        ("sync_type", pa.string()),
        ("status", pa.string()),
        ("total_count", pa.int64()),
        ("success_count", pa.int64()),
        ("failed_count", pa.int64()),
        ("api_calls", pa.int64()),
        ("message", pa.string()),
        ("started_at", TS),
        ("completed_at", TS),
    ),
    ("id",),
    "One row per sync type per run: processing while it runs, then success, partial or failed.",
)

SYNC_REJECTS = Table(
    "sync_rejects",
    (
        ("run_id", pa.string()),
        ("sync_type", pa.string()),
        ("record_key", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("rejected_at", TS),
    ),
    (),
    "Records a sync could not load, with the reason and the record as Haier sent it.",
)

ORDERS = Table(
    "orders",
    (
        ("so_id", pa.string()),
        ("online_no", pa.string()),
        ("retail_order_no", pa.string()),
        ("ext_order_no", pa.string()),
        ("status", pa.string()),
        ("total_amt", MONEY),
        ("county_code", pa.string()),
        ("source_file", pa.string()),
        ("last_error", pa.string()),
        ("push_attempts", pa.int32()),
        ("received_at", TS),
        ("pushed_at", TS),
        ("updated_at", TS),
        ("logistics_status", pa.string()),
    ),
    ("so_id",),
    "Every paid order seen in the inbox and what became of it at Haier.",
)

LOGISTICS_EVENTS = Table(
    "logistics_events",
    (
        ("so_id", pa.string()),
        ("logistics_no", pa.string()),
        ("status", pa.string()),
        ("logistics_company", pa.string()),
        ("sn_code", pa.string()),
        ("delivery_record_code", pa.string()),
        ("description", pa.string()),
        ("status_time", TS),
        ("source", pa.string()),
        ("recorded_at", TS),
    ),
    ("so_id", "logistics_no", "status"),
    "Logistics milestones of pushed orders, one row per parcel and status.",
)

ACCOUNT_BALANCE = Table(
    "account_balance",
    (
        ("sale_group_code", pa.string()),
        ("fetched_at", TS),
        ("sale_group_name", pa.string()),
        ("payer_account_code", pa.string()),
        ("payer_account_name", pa.string()),
        ("balance", MONEY),
    ),
    ("sale_group_code", "fetched_at"),
    "Payer account balance snapshots, appended by balance_snapshot.",
)

DELIVERY_PHOTOS = Table(
    "delivery_photos",
    (
        ("retail_order_no", pa.string()),
        ("image_url", pa.string()),
        ("photo_type", pa.string()),
        ("position", pa.int32()),
        ("fetched_at", TS),
    ),
    ("retail_order_no", "image_url"),
    "Delivery and installation photos of delivered orders (YLH 3.4), one row per photo.",
)

ALL_TABLES: tuple[Table, ...] = (
    PRODUCTS,
    PRICES,
    STOCK,
    SYNC_LOG,
    SYNC_REJECTS,
    ORDERS,
    LOGISTICS_EVENTS,
    ACCOUNT_BALANCE,
    DELIVERY_PHOTOS,
)

SETUP_SQL: tuple[str, ...] = (
    "CREATE SEQUENCE IF NOT EXISTS sync_log_id_seq START 1",
    *(table.ddl() for table in ALL_TABLES),
)
