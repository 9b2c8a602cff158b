"""When order jobs run without a sensor starting them."""

from dagster import DefaultScheduleStatus, RunConfig, ScheduleDefinition

from haier_pipeline.dagster_defs.conventions import TIMEZONE
from haier_pipeline.dagster_defs.orders.jobs import push_orders, track_logistics
from haier_pipeline.dagster_defs.orders.ops import PushOrdersConfig

push_orders_every_15_min = ScheduleDefinition(
    name="push_orders_every_15_min",
    job=push_orders,
    cron_schedule="*/15 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    run_config=RunConfig(ops={"push_pending_orders": PushOrdersConfig()}),
    description="Retries failed orders and catches files the sensor has not seen.",
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
