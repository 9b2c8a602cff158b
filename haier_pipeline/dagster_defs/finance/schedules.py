"""When the balance is recorded."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from haier_pipeline.dagster_defs.conventions import TIMEZONE, one_run_per_account
from haier_pipeline.dagster_defs.finance.jobs import balance_snapshot


@schedule(
    name="balance_snapshot_daily",
    job=balance_snapshot,
    cron_schedule="0 8 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning at 08:00 Beijing time, before the day's orders are pushed; "
    "one run per account.",
)
def balance_snapshot_daily(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return one_run_per_account(context)


FINANCE_SCHEDULES = [balance_snapshot_daily]
