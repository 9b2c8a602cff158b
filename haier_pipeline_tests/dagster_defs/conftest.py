"""Fixtures of the order job tests: the products table that orders are validated against."""

from __future__ import annotations

import pytest

from haier_pipeline.storage.schema import PRODUCTS
from haier_pipeline.storage.warehouse import Warehouse, upsert, utcnow
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import COUNTY


@pytest.fixture
def synced_catalog(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog as catalog_sync leaves it (stock for the one county the orders ship to)."""
    monkeypatch.setenv("HAIER_COUNTY_CODES", COUNTY)
    assert pipeline.run("catalog_sync").success


@pytest.fixture
def seeded_catalog(pipeline: Pipeline) -> None:
    """The sandbox's procurable products written straight into products: what the order jobs
    read of a sync, without the seconds a Dagster catalog run takes."""
    now = utcnow()
    rows = [
        {"product_code": p.code, "is_procurable": True, "synced_at": now}
        for p in pipeline.sandbox.catalog.procurable
    ]
    with Warehouse(pipeline.duckdb_path).transaction() as con:
        upsert(con, PRODUCTS, PRODUCTS.to_arrow(rows))
