"""The one entry point Dagster loads: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

from dagster import Definitions

from haier_pipeline.defs.catalog import catalog
from haier_pipeline.defs.checks import CATALOG_CHECKS
from haier_pipeline.defs.jobs import JOBS, SCHEDULES
from haier_pipeline.defs.resources import (
    CatalogScopeResource,
    HaierApiResource,
    WarehouseResource,
)


def build_defs() -> Definitions:
    """Definitions wired to the environment as it is now (see the README's configuration)."""
    return Definitions(
        assets=[catalog],
        asset_checks=CATALOG_CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        resources={
            "haier": HaierApiResource.from_env(),
            "catalog_scope": CatalogScopeResource.from_env(),
            "duckdb_warehouse": WarehouseResource.from_env(),
        },
    )


defs = build_defs()
