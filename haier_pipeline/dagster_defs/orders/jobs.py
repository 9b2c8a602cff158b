"""The order jobs: one op each, launched by sensors, schedules or from the Launchpad."""

from dagster import in_process_executor, job

from haier_pipeline.dagster_defs.orders.ops import (
    apply_spooled_callbacks,
    cancel_pushed_order,
    fetch_order_photos,
    push_pending_orders,
    refresh_logistics,
    reschedule_delivery,
)

ORDER_JOB_TAGS = {"haier/area": "orders"}
POOL_JOB_TAGS = {**ORDER_JOB_TAGS, "dagster/max_runtime": "3600"}
"""A pool slot held by a run killed with kill -9 is only freed once the run is marked failed,
which the run-monitoring daemon does after dagster/max_runtime (see dagster_home/dagster.yaml)."""


@job(executor_def=in_process_executor, tags=POOL_JOB_TAGS)
def push_orders() -> None:
    """Every pending order in the inbox, validated, stock-checked and pushed once to YLH."""
    push_pending_orders()


@job(executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def track_logistics() -> None:
    """Refresh logistics for pushed orders that are not yet delivered."""
    refresh_logistics()


@job(executor_def=in_process_executor, tags=POOL_JOB_TAGS)
def apply_callbacks() -> None:
    """Apply the callbacks the receiver spooled (confirm, cancel, out of stock) to orders."""
    apply_spooled_callbacks()


@job(name="cancel_order", executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def cancel_order_job() -> None:
    """Cancel a pushed order at YLH (launch from the UI with its soId and a reason)."""
    cancel_pushed_order()


@job(name="reschedule_order", executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def reschedule_order_job() -> None:
    """Move an order's delivery or installation day (launch from the UI)."""
    reschedule_delivery()


@job(name="fetch_delivery_photos", executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def fetch_delivery_photos_job() -> None:
    """Fetch one order's delivery and installation photos (launch with its retailOrderNo);
    track_logistics fetches them by itself once an order is delivered. The step carries the
    job's name, so its config is ``ops: fetch_delivery_photos: config: ...``."""
    fetch_order_photos.alias("fetch_delivery_photos")()


ORDER_JOBS = [
    push_orders,
    track_logistics,
    apply_callbacks,
    cancel_order_job,
    reschedule_order_job,
    fetch_delivery_photos_job,
]
