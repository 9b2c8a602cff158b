"""The products phase of CatalogSync in discovery mode: the one answer listing every
procurable product is staged chunk by chunk, and still counted and deduplicated as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from haier_pipeline.catalog.sync import CatalogSync
from haier_pipeline.haier import endpoints
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.haier.stub import FAST_RETRY, StubServer, jsh_settings, ok, start_stub


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server, stop = start_stub()
    yield server
    stop()


def product(code: str) -> dict[str, Any]:
    return {"productCode": code, "productGroupNamd": "冰箱", "isSales": "1"}


def test_discovered_products_are_staged_per_chunk_and_a_repeated_code_loads_once(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_code = {"productGroupNamd": "冰箱", "isSales": "1"}
    answer = [product("A00000001"), product("B00000002")]  # chunk 1
    answer += [no_code, product("B00000002")]  # chunk 2: a rejected record and a repeat
    answer += [product("C00000003")]  # chunk 3
    stub.script(endpoints.JSH_PRODUCTS, ok(answer))
    stub.script(endpoints.JSH_PRICES, ok([]))
    stub.script(endpoints.JSH_STOCK, ok([]))

    staged: list[int] = []
    append = Staging.append

    def spy(staging: Staging, name: str, rows: pa.Table) -> None:
        if name == "products":
            staged.append(rows.num_rows)
        append(staging, name, rows)

    monkeypatch.setattr(Staging, "append", spy)

    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with JshClient(jsh_settings(stub), retry=FAST_RETRY) as client:
        sync = CatalogSync(client, warehouse, "run-1", counties=["110101"], product_chunk=2)
        result = sync.run()

    assert staged == [2, 0, 1]  # one append per chunk, none holding the whole catalog
    report = result.phases["products"]
    assert (report.total, report.success, report.failed, report.malformed) == (4, 3, 1, 1)
    assert len(stub.calls(endpoints.JSH_PRODUCTS)) == 1
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        codes = con.execute("SELECT product_code FROM products ORDER BY 1").fetchall()
        rejects = con.execute(
            "SELECT record_key, reason FROM sync_rejects WHERE sync_type = 'products'"
        ).fetchall()
    assert codes == [("A00000001",), ("B00000002",), ("C00000003",)]
    assert len(rejects) == 1
    assert rejects[0][0] is None
    assert "productCode (product_code) is missing" in rejects[0][1]
