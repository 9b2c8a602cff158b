"""The warehouse publishes whole snapshots that readers can hold open while it writes."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from haier_pipeline.storage.schema import PRICES
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


def _claiming_process(path: Path, run_id: str, sync_type: str) -> subprocess.Popen[str]:
    """A process that claims ``run_id``, opens a sync_log row, says so, then waits forever."""
    code = textwrap.dedent(
        f"""
        import time
        from haier_pipeline.storage.warehouse import Warehouse
        warehouse = Warehouse({str(path)!r})
        with warehouse.run_claim({run_id!r}):
            print(warehouse.start_sync({run_id!r}, {sync_type!r}), flush=True)
            time.sleep(600)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_rows_of_a_killed_run_are_closed_and_a_live_runs_rows_are_kept(tmp_path: Path) -> None:
    """Any job's run that died by SIGKILL (whatever Dagster still says of it) is closed by
    the next run, because every sync_log writer holds its run claim; a live one is left."""
    path = tmp_path / "haier.duckdb"
    killed = _claiming_process(path, "dead-run", "order")
    living = _claiming_process(path, "live-run", "logistics")
    try:
        assert killed.stdout is not None and living.stdout is not None
        dead, alive = int(killed.stdout.readline()), int(living.stdout.readline())
        killed.kill()
        killed.wait()

        warehouse = Warehouse(path)
        assert warehouse.close_interrupted_syncs() == 1
        assert warehouse.close_interrupted_syncs() == 0
    finally:
        living.kill()
        living.wait()
    rows = dict((r[0], r[1:]) for r in warehouse.read("SELECT id, status, message FROM sync_log"))
    assert rows[dead][0] == "failed" and "interrupted: run dead-run" in rows[dead][1]
    assert rows[alive] == ("processing", None)


def test_a_row_whose_run_holds_no_claim_counts_as_interrupted(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    orphan = warehouse.start_sync("unclaimed-run", "order")
    assert warehouse.close_interrupted_syncs() == 1
    assert warehouse.read("SELECT status FROM sync_log WHERE id = ?", [orphan]) == [("failed",)]


def test_claiming_a_run_twice_in_one_warehouse_is_harmless(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with warehouse.run_claim("r1"), warehouse.run_claim("r1"):
        log_id = warehouse.start_sync("r1", "products")
        assert Warehouse(warehouse.path).close_interrupted_syncs() == 0
    assert warehouse.read("SELECT status FROM sync_log WHERE id = ?", [log_id]) == [("processing",)]


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
        holder_says = rf"pid \d+ \(run xyz \(push_orders\), on {re.escape(socket.gethostname())}"
        with pytest.raises(StorageError, match=holder_says):
            impatient.start_sync("r", "products")
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


TZ = "TIMESTAMP WITH TIME ZONE"
MONEY = "DECIMAL(18,2)"
# The columns promised to analysts (the project's contract), written out here rather than read
# from schema.py, so that a change to the declaration that breaks the promise fails this test.
# Types where the contract names one.
CONTRACT_COLUMNS: dict[str, dict[str, str | None]] = {
    "products": {
        "product_code": None,
        "product_model": None,
        "product_group": None,
        "brand": None,
        "image_url": None,
        "leaflet_urls": "VARCHAR[]",
        "is_procurable": "BOOLEAN",
        "not_procurable_reason": None,
        "synced_at": TZ,
    },
    "prices": {
        "product_code": None,
        "supply_price": MONEY,
        "invoice_price": MONEY,
        "direct_discount_rate": "DECIMAL(9,4)",
        "rebate_money": MONEY,
        "rebate_type": None,
        "price_note": None,
        "synced_at": TZ,
    },
    "stock": {
        "product_code": None,
        "county_code": None,
        "stock_qty": "INTEGER",
        "warehouse_code": None,
        "warehouse_grade": None,
        "cut_time": None,
        "expected_delivery_date": "DATE",
        "delivery_hours": "INTEGER",
        "is_transfer": "BOOLEAN",
        "synced_at": TZ,
    },
    "sync_log": {
        "id": None,
        "run_id": None,
        "sync_type": None,
        "status": None,
        "total_count": None,
        "success_count": None,
        "failed_count": None,
        "message": None,
        "started_at": TZ,
        "completed_at": TZ,
    },
    "orders": {
        "so_id": None,
        "online_no": None,
        "retail_order_no": None,
        "status": None,
        "total_amt": MONEY,
        "last_error": None,
        "received_at": TZ,
        "pushed_at": TZ,
        "updated_at": TZ,
    },
    "logistics_events": {
        "so_id": None,
        "logistics_no": None,
        "status": None,
        "logistics_company": None,
        "sn_code": None,
        "status_time": TZ,
        "source": None,
    },
    "account_balance": {
        "sale_group_code": None,
        "fetched_at": TZ,
        "sale_group_name": None,
        "payer_account_code": None,
        "payer_account_name": None,
        "balance": MONEY,
    },
}


@pytest.mark.parametrize("table", sorted(CONTRACT_COLUMNS))
def test_every_contract_table_has_the_contract_columns_and_types(
    tmp_path: Path, table: str
) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    warehouse.publish()
    columns = dict(
        warehouse.read(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table],
        )
    )
    expected = CONTRACT_COLUMNS[table]
    assert set(expected) <= set(columns)
    assert {c: columns[c] for c, typ in expected.items() if typ} == {
        c: typ for c, typ in expected.items() if typ
    }
