"""When the balance is recorded."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from haier_pipeline.dagster_defs.conventions import TIMEZONE
from haier_pipeline.dagster_defs.finance.jobs import balance_snapshot

balance_snapshot_daily = ScheduleDefinition(
    name="balance_snapshot_daily",
    job=balance_snapshot,
    cron_schedule="0 8 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning at 08:00 Beijing time, before the day's orders are pushed.",
)

FINANCE_SCHEDULES = [balance_snapshot_daily]
