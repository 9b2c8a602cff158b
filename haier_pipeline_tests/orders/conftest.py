"""Fixtures of the order tests: a warehouse whose catalog is the sandbox's, an inbox, clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.storage.schema import PRODUCTS
from haier_pipeline.storage.warehouse import Warehouse, upsert, utcnow


@pytest.fixture
def warehouse(tmp_path: Path, sandbox: SandboxServer) -> Warehouse:
    """A real DuckDB file whose products are the sandbox's procurable ones."""
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    now = utcnow()
    rows = [
        {"product_code": p.code, "is_procurable": True, "synced_at": now}
        for p in sandbox.catalog.procurable
    ]
    with warehouse.transaction() as con:
        upsert(con, PRODUCTS, PRODUCTS.to_arrow(rows))
    return warehouse


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "orders" / "inbox"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def clients(sandbox: SandboxServer) -> Iterator[tuple[JshClient, YlhClient]]:
    with JshClient(sandbox.jsh_settings()) as jsh, YlhClient(sandbox.ylh_settings()) as ylh:
        yield jsh, ylh
