"""Jobs users launch from the UI or the CLI, and the schedules that launch them."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from haier_pipeline.defs.catalog import CATALOG_GROUP

TIMEZONE = "Asia/Shanghai"

# In-process: the sync is one step that keeps dozens of calls in flight on threads; a
# subprocess per step would only add start-up time.
catalog_sync = define_asset_job(
    "catalog_sync",
    selection=AssetSelection.groups(CATALOG_GROUP),
    executor_def=in_process_executor,
    description="Products, prices and stock from Haier into the DuckDB catalog tables.",
)

catalog_sync_daily = ScheduleDefinition(
    name="catalog_sync_daily",
    job=catalog_sync,
    cron_schedule="30 5 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning before the shops open (05:30 Beijing time).",
)

JOBS = [catalog_sync]
SCHEDULES = [catalog_sync_daily]
