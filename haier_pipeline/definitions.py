"""The one entry point Dagster loads: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

from dagster import Definitions

from haier_pipeline.defs.catalog import catalog
from haier_pipeline.defs.checks import CATALOG_CHECKS
from haier_pipeline.defs.jobs import JOBS, SCHEDULES
from haier_pipeline.defs.orders import ORDER_ASSETS, ORDER_CHECKS, ORDER_JOBS, ORDER_SCHEDULES
from haier_pipeline.defs.resources import (
    BalancePolicyResource,
    CallbackSpoolResource,
    CatalogScopeResource,
    HaierApiResource,
    OrderInboxResource,
    WarehouseResource,
    YlhResource,
)
from haier_pipeline.defs.sensors import ORDER_SENSORS


def build_defs() -> Definitions:
    """Definitions wired to the environment as it is now (see the README's configuration)."""
    return Definitions(
        assets=[catalog, *ORDER_ASSETS],
        asset_checks=[*CATALOG_CHECKS, *ORDER_CHECKS],
        jobs=[*JOBS, *ORDER_JOBS],
        schedules=[*SCHEDULES, *ORDER_SCHEDULES],
        sensors=ORDER_SENSORS,
        resources={
            "haier": HaierApiResource.from_env(),
            "catalog_scope": CatalogScopeResource.from_env(),
            "duckdb_warehouse": WarehouseResource.from_env(),
            "ylh": YlhResource.from_env(),
            "order_inbox": OrderInboxResource.from_env(),
            "callback_spool": CallbackSpoolResource.from_env(),
            "balance_policy": BalancePolicyResource.from_env(),
        },
    )


defs = build_defs()
