"""When the catalog is refreshed without anyone asking."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from haier_pipeline.dagster_defs.catalog.jobs import catalog_sync
from haier_pipeline.dagster_defs.conventions import TIMEZONE, one_run_per_account


@schedule(
    name="catalog_sync_daily",
    job=catalog_sync,
    cron_schedule="30 5 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning before the shops open (05:30 Beijing time), one run per account.",
)
def catalog_sync_daily(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return one_run_per_account(context)


CATALOG_SCHEDULES = [catalog_sync_daily]
