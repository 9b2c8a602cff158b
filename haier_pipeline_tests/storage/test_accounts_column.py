"""The ``account`` column: in every table and key, files of earlier releases migrated in place,
and one account's publish never touching another's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from haier_pipeline.storage.schema import (
    ACCOUNT,
    ALL_TABLES,
    ALL_VIEWS,
    HISTORIES,
    PIPELINE_SCHEMA,
    PRICES,
    PRODUCTS,
    STOCK,
)
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import StorageError, SyncOutcome, Warehouse
from haier_pipeline_tests.storage.previous_release import (
    write_previous_release_files,
    write_single_account_release_files,
)

ACCOUNT_TABLES = [t for t in ALL_TABLES if t is not PIPELINE_SCHEMA]


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _tables_before(path: Path) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table of an old file, as a set (leaflet lists made hashable)."""
    names = [n for (n,) in _rows(path, "SELECT table_name FROM duckdb_tables()")]
    return {
        name: {_hashable(row) for row in _rows(path, f"SELECT * FROM {name}")}
        for name in names
        if name != PIPELINE_SCHEMA.name
    }


def _hashable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def _old_columns(path: Path, table: str) -> list[str]:
    return [
        name
        for (name,) in _rows(
            path,
            f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{table}' "
            "ORDER BY column_index",
        )
    ]


def test_every_table_analysts_query_has_account_last_and_first_in_its_key() -> None:
    """Last among the columns, so ``SELECT *`` reads as it did before accounts existed."""
    for table in ACCOUNT_TABLES:
        assert table.fields[-1] == ACCOUNT, table.name
        if table.key:
            assert table.key[0] == ACCOUNT.name, table.name
    for view in ALL_VIEWS:
        assert view.column_names[-1] == ACCOUNT.name, view.name
    for history in HISTORIES:  # follows from the current table's key
        assert history.table.key[:-1] == history.current.key


@pytest.mark.parametrize(
    "write", [write_previous_release_files, write_single_account_release_files]
)
def test_a_single_account_file_is_migrated_in_place_with_nothing_lost(
    tmp_path: Path, write: Any
) -> None:
    published = tmp_path / "data" / "haier.duckdb"
    working = write(published)
    columns = {t.name: _old_columns(working, t.name) for t in ACCOUNT_TABLES}
    before = _tables_before(working)
    assert before["products"] and before["sync_log"]

    warehouse = Warehouse(published)
    warehouse.publish()  # the first run opens the working file and sets it up

    for table in ACCOUNT_TABLES:
        if table.name not in before:
            continue  # created by this release (history tables of c7a6b6a's file)
        kept = ", ".join(columns[table.name])
        after = _rows(published, f"SELECT {kept} FROM {table.name}")
        assert {_hashable(r) for r in after} == before[table.name], table.name
        assert _rows(published, f"SELECT DISTINCT account FROM {table.name}") in (
            [("default",)],
            [],
        ), table.name
    constraints = dict(
        _rows(
            published,
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY'",
        )
    )
    for table in ACCOUNT_TABLES:
        if table.key and table.enforce_key:
            assert constraints[table.name] == list(table.key), table.name
    # c7a6b6a's file had no history: it starts from the migrated current rows.
    assert _rows(published, "SELECT count(*) FROM product_history WHERE account = 'default'")[0][
        0
    ] == len(before["products"])
    # The sequence goes on: the next sync_log id is above every migrated one.
    next_id = warehouse.start_sync("new-run", "products")
    assert next_id > max(row[0] for row in before["sync_log"])


def test_the_migration_is_one_transaction_so_a_file_it_cannot_keep_whole_is_left_as_it_was(
    tmp_path: Path,
) -> None:
    published = tmp_path / "data" / "haier.duckdb"
    working = write_single_account_release_files(published)
    with duckdb.connect(str(working)) as con:
        con.execute("ALTER TABLE orders ADD COLUMN shop_note VARCHAR")
    before = _tables_before(working)

    with pytest.raises(StorageError, match=r"orders .* column\(s\) shop_note"):
        Warehouse(published).publish()
    assert _tables_before(working) == before
    assert "account" not in _old_columns(working, "products")


def _publish(
    warehouse: Warehouse, account: str, products: dict[str, str], run_id: str
) -> dict[str, int]:
    """Publish a catalog of ``products`` (code -> supply price) for one account."""
    at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    log_ids = warehouse.start_syncs(run_id, ["products", "prices", "stock"], account)
    staging = Staging(warehouse.staging_path(run_id, account), [PRODUCTS, PRICES, STOCK])
    codes = list(products)
    staging.append(
        "products",
        PRODUCTS.to_arrow(
            [{"product_code": c, "is_procurable": True, "synced_at": at} for c in codes]
        ),
    )
    staging.append(
        "prices",
        PRICES.to_arrow(
            [
                {"product_code": c, "supply_price": Decimal(p), "synced_at": at}
                for c, p in products.items()
            ]
        ),
    )
    staging.append(
        "stock",
        STOCK.to_arrow(
            [
                {"product_code": c, "county_code": "110101", "stock_qty": 5, "synced_at": at}
                for c in codes
            ]
        ),
    )
    for name in ("products", "prices"):
        staging.append(f"scope_{name}", pa.table({"product_code": codes}))
    staging.append(
        "scope_stock", pa.table({"product_code": codes, "county_code": ["110101"] * len(codes)})
    )
    staging.close()
    outcomes = [SyncOutcome(i, "success", 1, 1, 0, 1, "ok") for i in log_ids.values()]
    try:
        return warehouse.publish_catalog(staging.path, [PRODUCTS, PRICES, STOCK], outcomes, account)
    finally:
        staging.discard()


def test_publishing_one_accounts_catalog_never_touches_anothers_rows(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    _publish(warehouse, "north", {"AAAAAAAA1": "1.00", "AAAAAAAA2": "2.00"}, "run-1")
    north_tables = {
        name: _rows(warehouse.path, f"SELECT * FROM {name} WHERE account = 'north' ORDER BY ALL")
        for name in ("products", "prices", "stock", "price_history", "stock_history")
    }

    # south lists the same product at another price, and not AAAAAAAA2 at all
    counts = _publish(warehouse, "south", {"AAAAAAAA1": "9.00"}, "run-2")
    assert counts["products"] == 1  # south's rows: what south's partition shows
    assert _rows(warehouse.path, "SELECT count(*) FROM products") == [(3,)]  # both accounts'

    for name, rows in north_tables.items():
        assert (
            _rows(warehouse.path, f"SELECT * FROM {name} WHERE account = 'north' ORDER BY ALL")
            == rows
        ), name
    assert _rows(
        warehouse.path, "SELECT account, supply_price FROM catalog ORDER BY account, product_code"
    ) == [("north", Decimal("1.00")), ("north", Decimal("2.00")), ("south", Decimal("9.00"))]
    assert _rows(
        warehouse.path, "SELECT account, count(*) FROM sync_log GROUP BY ALL ORDER BY 1"
    ) == [("north", 3), ("south", 3)]

    # south's next sync drops its product: north's row of the same code stays open
    _publish(warehouse, "south", {}, "run-3")
    assert _rows(
        warehouse.path,
        "SELECT account FROM price_history WHERE valid_to IS NULL ORDER BY account",
    ) == [("north",), ("north",)]
