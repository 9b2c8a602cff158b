"""Every table, view and column analysts query, declared once, with what each one means.

Each column is declared with its Arrow type (the DuckDB type follows from it), its meaning,
its unit and the Haier wire field it comes from, looked up in ``haier/fields.py`` so that a
renamed Haier field is changed in one file. From these declarations come the DDL, the
bulk-load schemas, the history tables (``History``), and the ``COMMENT ON`` statements that
make ``duckdb_columns()`` and any SQL client show the same descriptions; ``description`` on a
column, table or view is plain text for other consumers (the Dagster UI). The names are the
ones analysts' queries use (the README's queries); renaming one needs a migration and a README
note.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier import fields

MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(9, 4)
PERCENT = pa.decimal128(9, 2)
TS = pa.timestamp("us", tz="UTC")

_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.date32(): "DATE",
    MONEY: "DECIMAL(18,2)",
    RATE: "DECIMAL(9,4)",
    PERCENT: "DECIMAL(9,2)",
    TS: "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
}

STORAGE_VERSION = "v1.4.0"
"""DuckDB storage format of the files the pipeline writes: the newest one DuckDB 1.4 LTS can
read (1.5 and 2.x read it too). The README's *Storage* section says why not 2.0's own."""


@dataclass(frozen=True)
class Column:
    """One column: its type, what it means, its unit and the Haier field it comes from."""

    name: str
    type: pa.DataType
    meaning: str
    unit: str | None = None
    source: str | None = None

    @property
    def sql_type(self) -> str:
        return _DUCKDB_TYPES[self.type]

    @property
    def description(self) -> str:
        text = self.meaning
        if self.unit:
            text += f" Unit: {self.unit}."
        if self.source:
            text += f" Haier field: {self.source}."
        return text


def col(
    name: str,
    typ: pa.DataType,
    meaning: str,
    *,
    unit: str | None = None,
    haier: Mapping[str, str] | None = None,
    source: str | None = None,
) -> Column:
    """A column whose Haier source is looked up by our name in a ``haier/fields.py`` map."""
    if haier is not None:
        [source] = [wire for wire, ours in haier.items() if ours == name]
    return Column(name, typ, meaning, unit, source)


@dataclass(frozen=True)
class Table:
    """A table: its columns, its key and a one-line description.

    ``enforce_key`` is False for the append-only history tables: a PRIMARY KEY index over a
    year of history would cost memory on every insert for a key the SQL never violates.
    """

    name: str
    fields: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    enforce_key: bool = True

    @property
    def local_key(self) -> tuple[str, ...]:
        """The key within one account: what a sync of one account stages and replaces."""
        return tuple(k for k in self.key if k != ACCOUNT.name)

    @property
    def columns(self) -> tuple[tuple[str, pa.DataType], ...]:
        """(name, Arrow type) pairs."""
        return tuple((c.name, c.type) for c in self.fields)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(list(self.columns))

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.fields]

    @property
    def column_descriptions(self) -> dict[str, str]:
        return {c.name: c.description for c in self.fields}

    def field(self, name: str) -> Column:
        [found] = [c for c in self.fields if c.name == name]
        return found

    def to_arrow(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """Rows as an Arrow table of this schema: exact decimals, tz-aware times, for bulk loads.

        A row that names no account is the default account's, as every row was before
        accounts existed."""
        schema = self.arrow_schema
        missing = {ACCOUNT.name: DEFAULT_ACCOUNT}
        return pa.table(
            {n: [row.get(n, missing.get(n)) for row in rows] for n in schema.names}, schema=schema
        )

    def ddl(self, name: str | None = None) -> str:
        """CREATE TABLE statement; ``name`` lets the publisher build a replacement beside it."""
        cols = [f"{c.name} {c.sql_type}" for c in self.fields]
        if self.key and self.enforce_key:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {name or self.name} ({', '.join(cols)})"


@dataclass(frozen=True)
class View:
    """A view: its SQL and its columns, declared like a table's so they carry comments."""

    name: str
    fields: tuple[Column, ...]
    sql: str
    description: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.fields]

    @property
    def column_descriptions(self) -> dict[str, str]:
        return {c.name: c.description for c in self.fields}

    def ddl(self) -> str:
        return f"CREATE OR REPLACE VIEW {self.name} AS {self.sql}"


@dataclass(frozen=True)
class History:
    """The history of a current-state table: one row per distinct ``state`` of each key."""

    table: Table
    current: Table
    state: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        """The current table's key: one open history row per key of the current table."""
        return self.current.key


VALID_FROM = Column(
    "valid_from",
    TS,
    "When the sync that first saw this state published it (the completed_at of that sync's "
    "sync_log rows). For states carried over from a file written before history existed: the "
    "synced_at of that row.",
)
VALID_TO = Column(
    "valid_to",
    TS,
    "When the sync that first saw this state change or disappear published it; NULL while "
    "the state is current. A key's intervals [valid_from, valid_to) are contiguous.",
)


def history_of(current: Table, name: str, state: Sequence[str], description: str) -> History:
    """A history table keyed like ``current`` plus valid_from, sharing its column declarations
    (the account last, as in every table: ``SELECT *`` reads as before accounts existed)."""
    columns = tuple(current.field(n) for n in (*current.local_key, *state))
    table = Table(
        name,
        (*columns, VALID_FROM, VALID_TO, ACCOUNT),
        (*current.key, VALID_FROM.name),
        description,
        enforce_key=False,
    )
    return History(table, current, tuple(state))


SYNCED_AT = "When the pipeline received this row from Haier."

ACCOUNT = Column(
    "account",
    pa.string(),
    "The Haier account the row belongs to: its name in HAIER_ACCOUNTS_FILE, or "
    f"'{DEFAULT_ACCOUNT}' for the account of the HAIER_* variables.",
)

PRODUCT_CODE = col("product_code", pa.string(), "Haier product code.", haier=fields.PRODUCT)
COUNTY_CODE = Column(
    "county_code",
    pa.string(),
    "6-digit administrative county code the stock was asked for (from HAIER_COUNTY_CODES).",
    source="countyCode (request)",
)

PRODUCTS = Table(
    "products",
    (
        PRODUCT_CODE,
        col("product_model", pa.string(), "Model, e.g. EC6001-HT3.", haier=fields.PRODUCT),
        col("product_group", pa.string(), "Product group, e.g. 冰箱.", haier=fields.PRODUCT),
        col("brand", pa.string(), "Brand, e.g. 海尔, 卡萨帝, 统帅.", haier=fields.PRODUCT),
        col("image_url", pa.string(), "Main product image URL.", haier=fields.PRODUCT),
        col("leaflet_urls", pa.list_(pa.string()), "Leaflet image URLs.", haier=fields.PRODUCT),
        col(
            "is_procurable",
            pa.bool_(),
            "Whether this customer may buy the product now.",
            haier=fields.PRODUCT,
        ),
        col(
            "not_procurable_reason",
            pa.string(),
            "Why the product may not be bought, e.g. 产品未投放; NULL when procurable.",
            haier=fields.PRODUCT,
        ),
        Column("synced_at", TS, SYNCED_AT),
        ACCOUNT,
    ),
    ("account", "product_code"),
    "Haier products this customer may buy (and requested ones it may not, with the reason).",
)

PRICES = Table(
    "prices",
    (
        PRODUCT_CODE,
        col(
            "supply_price",
            MONEY,
            "Ordinary supply price (普通供价); NULL when no price is in force.",
            unit="yuan per unit, before discount and rebate",
            haier=fields.PRICE,
        ),
        col(
            "invoice_price",
            MONEY,
            "Invoice price = supply_price × (1 − direct_discount_rate) − rebate_money.",
            unit="yuan per unit",
            haier=fields.PRICE,
        ),
        col(
            "direct_discount_rate",
            RATE,
            "Direct discount (直扣); 0 when none.",
            unit="fraction, 0.05 = 5 %",
            haier=fields.PRICE,
        ),
        col(
            "rebate_money",
            MONEY,
            "Per-unit rebate (台返); 0 when none.",
            unit="yuan per unit",
            haier=fields.PRICE,
        ),
        col("rebate_type", pa.string(), "Rebate type: COM, FHQ, BF or DTDBF.", haier=fields.PRICE),
        col("is_procurable", pa.bool_(), "Whether the product is procurable.", haier=fields.PRICE),
        col(
            "price_note",
            pa.string(),
            "Haier's note, e.g. 价格未生效 when the supply price is missing.",
            haier=fields.PRICE,
        ),
        Column("synced_at", TS, SYNCED_AT),
        ACCOUNT,
    ),
    ("account", "product_code"),
    "Supply and invoice price per product; supply_price is NULL when no price is in force.",
)

STOCK = Table(
    "stock",
    (
        PRODUCT_CODE,
        COUNTY_CODE,
        col(
            "stock_qty",
            pa.int32(),
            "Available stock, summed over the warehouses serving the county.",
            unit="units",
            haier=fields.STOCK,
        ),
        col(
            "warehouse_code",
            pa.string(),
            "Main warehouse location (库位): the local one with most stock, else the upper-level "
            "one with most stock.",
            haier=fields.STOCK,
        ),
        col(
            "warehouse_grade",
            pa.string(),
            "Main warehouse grade: 0 local, 1 upper-level.",
            haier=fields.STOCK,
        ),
        col(
            "cut_time",
            pa.string(),
            "Order cut-off time of the main warehouse, e.g. 16:00.",
            unit="HH:MM, China time",
            haier=fields.STOCK,
        ),
        col(
            "expected_delivery_date",
            pa.date32(),
            "Expected delivery date to the end customer from the main warehouse.",
            haier=fields.STOCK,
        ),
        col(
            "delivery_hours",
            pa.int32(),
            "Delivery lead time from the main warehouse.",
            unit="hours",
            haier=fields.STOCK,
        ),
        col(
            "is_transfer",
            pa.bool_(),
            "Whether delivery from the main warehouse goes through a transfer.",
            haier=fields.STOCK,
        ),
        Column("warehouse_count", pa.int32(), "How many warehouses Haier listed for the county."),
        Column("synced_at", TS, SYNCED_AT),
        ACCOUNT,
    ),
    ("account", "product_code", "county_code"),
    "Available stock per procurable product and county, summed over the warehouses that serve it.",
)

SYNC_LOG = Table(
    "sync_log",
    (
        Column("id", pa.int64(), "Row id, increasing."),
        Column("run_id", pa.string(), "Dagster run id."),
        Column(
            "sync_type",
            pa.string(),
            "products, prices, stock, order, logistics, balance or manual.",
        ),
        Column("status", pa.string(), "pending, processing, success, partial or failed."),
        Column("total_count", pa.int64(), "Records the sync tried.", unit="records"),
        Column("success_count", pa.int64(), "Records loaded.", unit="records"),
        Column("failed_count", pa.int64(), "Records not loaded; see sync_rejects.", unit="records"),
        Column("api_calls", pa.int64(), "Haier API calls made.", unit="calls"),
        Column("message", pa.string(), "What happened, in one line."),
        Column("started_at", TS, "When the sync started."),
        Column("completed_at", TS, "When the sync ended (its tables were published)."),
        ACCOUNT,
    ),
    ("account", "id"),
    "One row per sync type per run: processing while it runs, then success, partial or failed.",
)

SYNC_REJECTS = Table(
    "sync_rejects",
    (
        Column("run_id", pa.string(), "Dagster run id (sync_log.run_id)."),
        Column("sync_type", pa.string(), "Sync type, as in sync_log."),
        Column("record_key", pa.string(), "The record key, e.g. a product code; NULL if unknown."),
        Column("reason", pa.string(), "Why it was not loaded."),
        Column("raw", pa.string(), "The record as Haier sent it (empty when the call failed)."),
        Column("rejected_at", TS, "When it was rejected."),
        ACCOUNT,
    ),
    (),
    "Records a sync could not load, with the reason and the record as Haier sent it.",
)

ORDERS = Table(
    "orders",
    (
        Column("so_id", pa.string(), "Our sub-order id, sent to YLH as soId.", source="soId"),
        Column("online_no", pa.string(), "Shop order number.", source="onlineNo"),
        col("retail_order_no", pa.string(), "YLH's order number.", haier=fields.ORDER_PUSH),
        Column("ext_order_no", pa.string(), "Haier's order number from the confirm callback."),
        Column(
            "status",
            pa.string(),
            "pending, pushed, rejected, failed, confirmed, cancelled or out_of_stock.",
        ),
        Column("total_amt", MONEY, "Order total.", unit="yuan"),
        Column("county_code", pa.string(), "6-digit county of the delivery address."),
        Column("source_file", pa.string(), "The order file's name in the inbox."),
        Column("last_error", pa.string(), "Why the order was rejected or failed."),
        Column("push_attempts", pa.int32(), "Pushes sent to YLH.", unit="attempts"),
        Column("received_at", TS, "When the order file was first seen."),
        Column("pushed_at", TS, "When YLH accepted the push."),
        Column("updated_at", TS, "When the row last changed."),
        Column("logistics_status", pa.string(), "Latest logistics status."),
        ACCOUNT,
    ),
    ("account", "so_id"),
    "Every paid order seen in the inbox and what became of it at Haier.",
)

LOGISTICS_EVENTS = Table(
    "logistics_events",
    (
        Column("so_id", pa.string(), "The order (orders.so_id)."),
        col("logistics_no", pa.string(), "Parcel number.", haier=fields.LOGISTICS_EVENT),
        col("status", pa.string(), "Logistics status.", haier=fields.LOGISTICS_EVENT),
        col("logistics_company", pa.string(), "Carrier.", haier=fields.LOGISTICS_EVENT),
        col("sn_code", pa.string(), "Appliance serial number.", haier=fields.LOGISTICS_EVENT),
        col(
            "delivery_record_code",
            pa.string(),
            "Delivery record code.",
            haier=fields.LOGISTICS_EVENT,
        ),
        col("description", pa.string(), "Haier's description.", haier=fields.LOGISTICS_EVENT),
        col("status_time", TS, "When the status was reached.", haier=fields.LOGISTICS_EVENT),
        Column("source", pa.string(), "cloud_warehouse, zhihuibao or third_party."),
        Column("recorded_at", TS, "When the pipeline recorded the event."),
        ACCOUNT,
    ),
    ("account", "so_id", "logistics_no", "status"),
    "Logistics milestones of pushed orders, one row per parcel and status.",
)

ACCOUNT_BALANCE = Table(
    "account_balance",
    (
        col("sale_group_code", pa.string(), "Sales group code.", haier=fields.BALANCE),
        Column("fetched_at", TS, "When the balance was fetched."),
        col("sale_group_name", pa.string(), "Sales group name.", haier=fields.BALANCE),
        col("payer_account_code", pa.string(), "Payer account code.", haier=fields.BALANCE),
        col("payer_account_name", pa.string(), "Payer account name.", haier=fields.BALANCE),
        col("balance", MONEY, "Payer account balance.", unit="yuan", haier=fields.BALANCE),
        ACCOUNT,
    ),
    ("account", "sale_group_code", "fetched_at"),
    "Payer account balance snapshots, appended by balance_snapshot.",
)

PRODUCT_HISTORY = history_of(
    PRODUCTS,
    "product_history",
    ("product_model", "product_group", "brand", "is_procurable", "not_procurable_reason"),
    "One row per distinct state of each product; valid_to NULL while current. A product no "
    "longer listed by a successful sync is closed.",
)
PRICE_HISTORY = history_of(
    PRICES,
    "price_history",
    ("supply_price", "invoice_price", "direct_discount_rate", "rebate_money", "rebate_type"),
    "One row per distinct price of each product; valid_to NULL while current. A product "
    "whose price call failed keeps its open row.",
)
STOCK_HISTORY = history_of(
    STOCK,
    "stock_history",
    ("stock_qty", "expected_delivery_date"),
    "One row per distinct stock state of each product and county; valid_to NULL while "
    "current. A pair whose stock call failed keeps its open row.",
)

HISTORIES: tuple[History, ...] = (PRODUCT_HISTORY, PRICE_HISTORY, STOCK_HISTORY)


def _synced(table: Table, name: str) -> Column:
    return Column(name, TS, f"When this product's {table.name} row was received from Haier.")


CATALOG = View(
    "catalog",
    (
        PRODUCT_CODE,
        COUNTY_CODE,
        *(PRODUCTS.field(n) for n in ("product_model", "product_group", "brand")),
        *(
            PRICES.field(n)
            for n in ("supply_price", "invoice_price", "direct_discount_rate", "rebate_money")
        ),
        *(
            STOCK.field(n)
            for n in ("stock_qty", "expected_delivery_date", "delivery_hours", "is_transfer")
        ),
        _synced(PRODUCTS, "product_synced_at"),
        _synced(PRICES, "price_synced_at"),
        _synced(STOCK, "stock_synced_at"),
        ACCOUNT,
    ),
    """
SELECT p.product_code, s.county_code, p.product_model, p.product_group, p.brand,
       r.supply_price, r.invoice_price, r.direct_discount_rate, r.rebate_money,
       s.stock_qty, s.expected_delivery_date, s.delivery_hours, s.is_transfer,
       p.synced_at AS product_synced_at, r.synced_at AS price_synced_at,
       s.synced_at AS stock_synced_at, p.account
FROM products p
JOIN stock s ON s.account = p.account AND s.product_code = p.product_code
LEFT JOIN prices r ON r.account = p.account AND r.product_code = p.product_code
WHERE p.is_procurable
""",
    "One row per procurable product and county: what it is, what it costs, how many can be "
    "had and when they arrive, and when each part was synced. Start here. Rows of an account "
    "no longer configured stay until `haier-pipeline purge-accounts --yes` deletes them; to "
    "read configured accounts only, filter: WHERE account IN ('north', 'south').",
)


def _price_change(name: str, meaning: str) -> Column:
    return Column(name, MONEY, meaning, unit="yuan per unit")


PRICE_CHANGES = View(
    "price_changes",
    (
        PRODUCT_CODE,
        *(PRODUCTS.field(n) for n in ("product_model", "brand")),
        Column(
            "changed_at",
            TS,
            "When the sync that first saw the new price published it (price_history.valid_from).",
        ),
        _price_change("old_supply_price", "Supply price before the change."),
        _price_change("new_supply_price", "Supply price after the change; NULL: none in force."),
        _price_change("old_invoice_price", "Invoice price before the change."),
        _price_change("new_invoice_price", "Invoice price after the change."),
        Column(
            "supply_change_pct",
            PERCENT,
            "(new − old) / old supply price; NULL when either is NULL or old is 0.",
            unit="percent",
        ),
        Column(
            "invoice_change_pct",
            PERCENT,
            "(new − old) / old invoice price; NULL when either is NULL or old is 0.",
            unit="percent",
        ),
        ACCOUNT,
    ),
    """
SELECT n.product_code, p.product_model, p.brand, n.valid_from AS changed_at,
       o.supply_price AS old_supply_price, n.supply_price AS new_supply_price,
       o.invoice_price AS old_invoice_price, n.invoice_price AS new_invoice_price,
       CAST(100 * (n.supply_price - o.supply_price) / nullif(o.supply_price, 0)
            AS DECIMAL(9,2)) AS supply_change_pct,
       CAST(100 * (n.invoice_price - o.invoice_price) / nullif(o.invoice_price, 0)
            AS DECIMAL(9,2)) AS invoice_change_pct,
       n.account
FROM price_history n
JOIN price_history o ON o.account = n.account AND o.product_code = n.product_code
    AND o.valid_to = n.valid_from
LEFT JOIN products p ON p.account = n.account AND p.product_code = n.product_code
WHERE o.supply_price IS DISTINCT FROM n.supply_price
   OR o.invoice_price IS DISTINCT FROM n.invoice_price
""",
    "One row per change of a product's supply or invoice price, with the old and new price "
    "and the change in percent.",
)

PIPELINE_SCHEMA = Table(
    "pipeline_schema",
    (
        Column("fingerprint", pa.string(), "Fingerprint of the schema declaration applied."),
        Column("set_up_at", TS, "When the pipeline last set this file's schema up."),
    ),
    (),
    "Bookkeeping, not data: which version of the pipeline's schema this file was set up with.",
)

DELIVERY_PHOTOS = Table(
    "delivery_photos",
    (
        Column("retail_order_no", pa.string(), "YLH's order number (SO.yyyyMMdd.nnnnnn)."),
        Column(
            "image_url",
            pa.string(),
            "URL of one delivery or installation photo.",
            source="data[] of YLH 3.4 get-retail-order-delivery-img",
        ),
        Column(
            "photo_type",
            pa.string(),
            "delivery, installation or signature: sandbox convention from the photo's "
            "position in YLH's list (YLH sends bare URLs).",
        ),
        Column("position", pa.int32(), "The photo's position in YLH's answer, from 0."),
        Column("fetched_at", TS, "When the photos were fetched from YLH."),
        ACCOUNT,
    ),
    ("account", "retail_order_no", "image_url"),
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
    *(h.table for h in HISTORIES),
    PIPELINE_SCHEMA,
)
ALL_VIEWS: tuple[View, ...] = (CATALOG, PRICE_CHANGES)

SETUP_SQL: tuple[str, ...] = (
    "CREATE SEQUENCE IF NOT EXISTS sync_log_id_seq START 1",
    *(table.ddl() for table in ALL_TABLES),
)


def sql_literal(text: str) -> str:
    """A SQL string literal (DuckDB's quoting: a quote is doubled). Only for our own constants,
    in the statements that take no parameters (COMMENT ON); never for a value from outside."""
    return "'" + text.replace("'", "''") + "'"


def comments_of(obj: Table | View) -> list[str]:
    """COMMENT ON a table or view and each of its columns, from its declaration."""
    kind = "VIEW" if isinstance(obj, View) else "TABLE"
    return [
        f"COMMENT ON {kind} {obj.name} IS {sql_literal(obj.description)}",
        *(
            f"COMMENT ON COLUMN {obj.name}.{c.name} IS {sql_literal(c.description)}"
            for c in obj.fields
        ),
    ]


def comment_sql() -> list[str]:
    """COMMENT ON every table, view and column."""
    objects: tuple[Table | View, ...] = (*ALL_TABLES, *ALL_VIEWS)
    return [s for obj in objects for s in comments_of(obj)]


def schema_statements() -> list[str]:
    """Everything that sets a file's schema up: tables, views, comments (all idempotent)."""
    return [*SETUP_SQL, *(view.ddl() for view in ALL_VIEWS), *comment_sql()]


SCHEMA_FINGERPRINT = hashlib.sha256("\n".join(schema_statements()).encode()).hexdigest()[:16]
"""Changes whenever a declaration above changes: a file set up with another one is set up again."""
