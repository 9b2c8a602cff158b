"""When the catalog is refreshed without anyone asking."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from haier_pipeline.dagster_defs.catalog.jobs import catalog_sync
from haier_pipeline.dagster_defs.conventions import TIMEZONE

catalog_sync_daily = ScheduleDefinition(
    name="catalog_sync_daily",
    job=catalog_sync,
    cron_schedule="30 5 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning before the shops open (05:30 Beijing time).",
)

CATALOG_SCHEDULES = [catalog_sync_daily]
