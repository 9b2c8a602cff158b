"""When order jobs run without a sensor starting them."""

from dagster import (
    DefaultScheduleStatus,
    RunConfig,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from haier_pipeline.dagster_defs.conventions import TIMEZONE
from haier_pipeline.dagster_defs.orders.jobs import push_orders, track_logistics
from haier_pipeline.dagster_defs.orders.ops import PushOrdersConfig
from haier_pipeline.dagster_defs.resources import OrderInboxResource
from haier_pipeline.orders.inbox import pending_files


@schedule(
    name="push_orders_every_15_min",
    job=push_orders,
    cron_schedule="*/15 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Retries failed orders and catches files the sensor has not seen; skips "
    "(with the reason) when no order file waits in the inbox.",
)
def push_orders_every_15_min(
    context: ScheduleEvaluationContext, order_inbox: OrderInboxResource
) -> RunRequest | SkipReason:
    """A failed order's file stays in the inbox, so an empty inbox means nothing to retry:
    no run, rather than 96 empty runs a day."""
    inbox = order_inbox.inbox()
    if not inbox.is_dir():
        return SkipReason(f"order inbox {inbox} does not exist yet (HAIER_ORDER_INBOX)")
    waiting = pending_files(inbox)
    if not waiting:
        return SkipReason(f"no order file waits in {inbox}")
    return RunRequest(
        run_config=RunConfig(ops={"push_pending_orders": PushOrdersConfig()}),
        tags={"haier/order_files": str(len(waiting))},
    )


track_logistics_hourly = ScheduleDefinition(
    name="track_logistics_hourly",
    job=track_logistics,
    cron_schedule="5 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every hour at :05, so customers' questions get today's answer.",
)

ORDER_SCHEDULES = [push_orders_every_15_min, track_logistics_hourly]
