"""Odd and hostile storage settings: a path no SQL text may break, an analyst writing to
the published file, and HAIER_DUCKDB_PATH naming a folder or a device."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from haier_pipeline.storage.schema import PRICES
from haier_pipeline.storage.warehouse import (
    ForeignWriterError,
    UnusablePathError,
    Warehouse,
    upsert,
    utcnow,
)
from haier_pipeline_tests.conftest import Pipeline

ANALYST = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])  # read-write, as an analyst should not
    con.execute("CREATE TABLE IF NOT EXISTS my_notes (x INTEGER)")
    con.execute("INSERT INTO my_notes VALUES (1)")
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


def _set_price(warehouse: Warehouse, price: str) -> None:
    row = {"product_code": "GA0SZC00U", "supply_price": Decimal(price), "synced_at": utcnow()}
    with warehouse.transaction() as con:
        upsert(con, PRICES, PRICES.to_arrow([row]))


def _price(path: Path) -> Decimal:
    with duckdb.connect(str(path), read_only=True) as con:
        [(price,)] = con.execute("SELECT supply_price FROM prices").fetchall()
    return price


@pytest.mark.parametrize("sandbox", [{"size": 40, "seed": 3}], indirect=True)
def test_a_path_with_a_quote_a_space_and_chinese_syncs_and_publishes(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "o'brien's data 海尔" / "haier'.duckdb"
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(path))

    result = pipeline.run("catalog_sync")

    assert result.success
    with duckdb.connect(str(path), read_only=True) as con:
        [(products, history)] = con.execute(
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM product_history)"
        ).fetchall()
    assert products > 0 and history == products


def test_an_analyst_writing_to_the_published_file_stops_the_publish_until_they_close(
    tmp_path: Path,
) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    _set_price(warehouse, "1.00")
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(warehouse.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout is not None and analyst.stdout.readline() == "ready\n"
        with pytest.raises(ForeignWriterError) as refused:
            _set_price(warehouse, "2.00")
    finally:
        analyst.communicate("\n", timeout=30)  # the analyst closes cleanly

    message = str(refused.value)
    assert "\n" not in message
    assert str(warehouse.path) in message and f"process {analyst.pid}" in message
    assert "read_only=True" in message and "next run publishes" in message
    # Nothing was published over the analyst; the change waits in the working file.
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        assert con.execute("SELECT x FROM my_notes").fetchall() == [(1,)]
        assert con.execute("SELECT supply_price FROM prices").fetchall() == [(Decimal("1.00"),)]
    warehouse.publish()  # the next run publishes
    assert _price(warehouse.path) == Decimal("2.00")


def test_a_write_ahead_log_left_beside_the_published_file_stops_the_publish(
    tmp_path: Path,
) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    _set_price(warehouse, "1.00")
    wal = Path(f"{warehouse.path}.wal")
    wal.write_bytes(b"an analyst's unfinished write")

    with pytest.raises(ForeignWriterError, match="write-ahead log") as refused:
        _set_price(warehouse, "2.00")

    assert str(wal) in str(refused.value) and "\n" not in str(refused.value)
    assert wal.exists()
    wal.unlink()
    warehouse.publish()
    assert _price(warehouse.path) == Decimal("2.00")


def test_a_folder_as_duckdb_path_is_refused_in_one_line_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()

    with pytest.raises(UnusablePathError, match="is a folder") as refused:
        Warehouse(folder)

    assert "\n" not in str(refused.value)
    assert str(folder / "haier.duckdb") in str(refused.value)
    assert list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []


def test_dev_null_as_duckdb_path_is_refused_and_leaves_nothing_in_dev() -> None:
    before = set(Path("/dev").iterdir())

    with pytest.raises(UnusablePathError, match="not a regular file"):
        Warehouse("/dev/null").publish()

    assert set(Path("/dev").iterdir()) == before


@pytest.mark.parametrize("sandbox", [{"size": 10, "seed": 3}], indirect=True)
def test_a_catalog_sync_with_a_folder_as_duckdb_path_fails_before_any_call(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(tmp_path))
    before = set(tmp_path.iterdir())

    result = pipeline.run("catalog_sync")

    assert not result.success
    assert pipeline.sandbox.stats()["served"] == {}  # no Haier call was made
    assert set(tmp_path.iterdir()) == before
