"""The warehouse publishes whole snapshots that readers can hold open while it writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from haier_pipeline.storage.schema import PRICES, PRODUCTS
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import StorageError, SyncOutcome, Warehouse, upsert, utcnow


def _price_rows(codes_prices: dict[str, str]) -> pa.Table:
    now = utcnow()
    return PRICES.to_arrow(
        [
            {
                "product_code": code,
                "supply_price": Decimal(price),
                "is_procurable": True,
                "synced_at": now,
            }
            for code, price in codes_prices.items()
        ]
    )


def _prices(path: Path) -> dict[str, Decimal]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute("SELECT product_code, supply_price FROM prices").fetchall())


def test_a_failed_transaction_leaves_the_published_file_unchanged(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with warehouse.transaction() as con:
        upsert(con, PRICES, _price_rows({"GA0SZC00U": "1999.00"}))

    with pytest.raises(RuntimeError), warehouse.transaction() as con:
        upsert(con, PRICES, _price_rows({"GA0SZC00U": "1.00", "BS01U000N": "2.00"}))
        raise RuntimeError("crash in the middle")

    assert _prices(warehouse.path) == {"GA0SZC00U": Decimal("1999.00")}


def test_a_reader_holding_the_file_open_neither_blocks_nor_sees_a_mix(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with warehouse.transaction() as con:
        upsert(con, PRICES, _price_rows({"GA0SZC00U": "1999.00"}))

    reader = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        with warehouse.transaction() as con:  # would fail on the lock if it wrote in place
            upsert(con, PRICES, _price_rows({"GA0SZC00U": "1888.00", "BS01U000N": "2.50"}))
        old = reader.execute("SELECT count(*), sum(supply_price) FROM prices").fetchone()
    finally:
        reader.close()

    assert old == (1, Decimal("1999.00"))
    assert _prices(warehouse.path) == {
        "GA0SZC00U": Decimal("1888.00"),
        "BS01U000N": Decimal("2.50"),
    }


def test_publish_catalog_replaces_scope_and_keeps_rows_whose_fetch_failed(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with warehouse.transaction() as con:
        upsert(
            con,
            PRICES,
            _price_rows({"AAAAAAAA1": "1.00", "AAAAAAAA2": "2.00", "AAAAAAAA3": "3.00"}),
        )
    log_id = warehouse.start_sync("run-1", "prices")

    staging = Staging(warehouse.staging_dir / "run-1.duckdb", [PRICES])
    staging.append("prices", _price_rows({"AAAAAAAA1": "1.10"}))
    # AAAAAAAA2 was in scope but its call failed; AAAAAAAA3 left the catalog.
    staging.append("scope_prices", pa.table({"product_code": ["AAAAAAAA1", "AAAAAAAA2"]}))
    staging.close()
    outcome = SyncOutcome(log_id, "partial", 2, 1, 1, 1, "1 failed")
    counts = warehouse.publish_catalog(staging.path, [PRICES], [outcome])

    assert counts == {"prices": 2, "price_history": 2}  # history opened for both rows
    assert _prices(warehouse.path) == {"AAAAAAAA1": Decimal("1.10"), "AAAAAAAA2": Decimal("2.00")}
    assert warehouse.read("SELECT status, failed_count FROM sync_log WHERE id = ?", [log_id]) == [
        ("partial", 1)
    ]


def test_interrupted_processing_rows_are_closed_by_the_next_run(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    dead = warehouse.start_sync("dead-run", "products")
    alive = warehouse.start_sync("live-run", "products")

    assert warehouse.close_interrupted_syncs({"live-run"}) == 1

    rows = dict((r[0], r[1:]) for r in warehouse.read("SELECT id, status, message FROM sync_log"))
    assert rows[dead][0] == "failed" and "dead-run" in rows[dead][1]
    assert rows[alive] == ("processing", None)


def test_a_path_under_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="HAIER_DUCKDB_PATH"):
        Warehouse(blocker / "haier.duckdb").start_sync("r", "products")


def test_lock_timeout_names_the_process_holding_the_writer_lock(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb", owner="run abc (catalog_sync)")
    warehouse.publish()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from haier_pipeline.storage.warehouse import Warehouse
                w = Warehouse({str(warehouse.path)!r}, owner="run xyz (push_orders)")
                with w.connect():
                    print("held", flush=True)
                    time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        impatient = Warehouse(warehouse.path, lock_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"pid \d+ \(run xyz \(push_orders\)"):
            impatient.start_sync("r", "products")
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_products_table_has_the_contract_columns(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    warehouse.publish()
    columns = dict(
        warehouse.read(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'products'"
        )
    )
    assert columns["leaflet_urls"] == "VARCHAR[]"
    assert columns["is_procurable"] == "BOOLEAN"
    assert columns["synced_at"] == "TIMESTAMP WITH TIME ZONE"
    assert set(PRODUCTS.column_names) <= set(columns)
