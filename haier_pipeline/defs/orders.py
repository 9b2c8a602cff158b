"""The order jobs: push_orders, track_logistics, apply_callbacks, cancel_order, reschedule_order,
the account_balance asset with its check, and their schedules.

The work is in Dagster-free modules (``haier_pipeline.orders``); each op here wires resources
in, turns the outcome into what the UI shows and fails the run when something needs a person.
``orders`` and ``logistics_events`` are declared as assets the ops report on, so the UI shows
when each table last changed and which run changed it.
"""

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    Config,
    DefaultScheduleStatus,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RunConfig,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from haier_pipeline.defs.catalog import OWNERS, column_schema
from haier_pipeline.defs.jobs import TIMEZONE
from haier_pipeline.defs.resources import (
    BalancePolicyResource,
    CallbackSpoolResource,
    HaierApiResource,
    OrderInboxResource,
    WarehouseResource,
    YlhResource,
)
from haier_pipeline.haier.errors import HaierBusinessError
from haier_pipeline.orders.apply_callbacks import CallbackApplier
from haier_pipeline.orders.balance import balance_problems, snapshot_balance
from haier_pipeline.orders.changes import OrderChangeError, cancel_order, reschedule_order
from haier_pipeline.orders.model import OrderDefaults
from haier_pipeline.orders.pusher import OrderOutcome, OrderPusher
from haier_pipeline.orders.tracking import LogisticsTracker
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.schema import ACCOUNT_BALANCE, LOGISTICS_EVENTS, ORDERS, Table

ORDERS_GROUP = "orders"
FINANCE_GROUP = "finance"
ORDERS_POOL = "haier_orders"
"""push_orders and apply_callbacks write orders; dagster_home/dagster.yaml limits pools to 1."""
POOL_JOB_TAGS = {"haier/area": "orders", "dagster/max_runtime": "3600"}
"""A pool slot held by a run killed with kill -9 is only freed once the run is marked failed,
which the run-monitoring daemon does after dagster/max_runtime (see dagster_home/dagster.yaml)."""
ORDER_JOB_TAGS = {"haier/area": "orders"}
OUTCOMES_SHOWN = 100  # rows of the per-order table in a push_orders run's metadata


def _table_spec(table: Table, deps: list[str]) -> AssetSpec:
    return AssetSpec(
        table.name,
        deps=deps,
        description=table.description,
        group_name=ORDERS_GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        metadata={"dagster/column_schema": column_schema(table), "dagster/table_name": table.name},
    )


ORDER_TABLE_SPECS = [_table_spec(ORDERS, []), _table_spec(LOGISTICS_EVENTS, [ORDERS.name])]


# -- push_orders -----------------------------------------------------------------------


class PushOrdersConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Order file names in the inbox to handle; empty: every file still there.",
    )


@op(pool=ORDERS_POOL, out={})
def push_pending_orders(
    context: OpExecutionContext,
    config: PushOrdersConfig,
    haier: HaierApiResource,
    ylh: YlhResource,
    duckdb_warehouse: WarehouseResource,
    order_inbox: OrderInboxResource,
) -> Iterator[AssetMaterialization]:
    """Validate, confirm stock, push once by soId, record, then archive each order file."""
    warehouse = duckdb_warehouse.for_run(context, "push_orders")
    defaults = OrderDefaults(ylh.source_system, ylh.shop_name, haier.customer_code)
    with haier.client() as jsh, ylh.client() as ylh_client:
        pusher = OrderPusher(jsh, ylh_client, warehouse, order_inbox.inbox(), defaults, context.log)
        report = pusher.run(context.run.run_id, config.files)
    counts = {status: report.count(status) for status in (db.PUSHED, db.REJECTED, db.FAILED)}
    yield AssetMaterialization(
        ORDERS.name,
        description=report.message(),
        metadata={
            **{f"orders_{status}": count for status, count in counts.items()},
            "api_calls": report.api_calls,
            "outcomes": MetadataValue.md(_outcome_table(report.outcomes)),
        },
    )
    if counts[db.FAILED]:
        raise Failure(
            description=f"{report.message()}. See last_error in orders for each failed soId.",
            allow_retries=False,
        )


def _outcome_table(outcomes: Sequence[OrderOutcome]) -> str:
    """Failed and rejected orders first: they are the ones someone has to act on."""
    shown = sorted(outcomes, key=lambda outcome: outcome.status == db.PUSHED)[:OUTCOMES_SHOWN]
    lines = ["| file | soId | status | retailOrderNo or reason |", "|---|---|---|---|"]
    for outcome in shown:
        detail = outcome.detail.replace("\n", " ").replace("|", "\\|")
        lines.append(
            f"| {outcome.source_file} | {outcome.so_id or ''} | {outcome.status} | {detail} |"
        )
    if len(outcomes) > len(shown):
        lines.append(f"\n{len(outcomes) - len(shown)} more; the orders table has them all.")
    return "\n".join(lines)


@job(executor_def=in_process_executor, tags=POOL_JOB_TAGS)
def push_orders() -> None:
    """Every pending order in the inbox, validated, stock-checked and pushed once to YLH."""
    push_pending_orders()


push_orders_every_15_min = ScheduleDefinition(
    name="push_orders_every_15_min",
    job=push_orders,
    cron_schedule="*/15 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    run_config=RunConfig(ops={"push_pending_orders": PushOrdersConfig()}),
    description="Retries failed orders and catches files the sensor has not seen.",
)


# -- track_logistics --------------------------------------------------------------------


@op(out={})
def refresh_logistics(
    context: OpExecutionContext,
    haier: HaierApiResource,
    ylh: YlhResource,
    duckdb_warehouse: WarehouseResource,
) -> Iterator[AssetMaterialization]:
    """New logistics events of every pushed or confirmed order not yet delivered."""
    warehouse = duckdb_warehouse.for_run(context, "track_logistics")
    with haier.client() as jsh, ylh.client() as ylh_client:
        tracker = LogisticsTracker(
            jsh,
            ylh_client,
            warehouse,
            haier.customer_code,
            context.log,
            max_workers=haier.max_workers,
        )
        report = tracker.run(context.run.run_id)
    message = report.message()
    yield AssetMaterialization(
        LOGISTICS_EVENTS.name,
        description=message,
        metadata={
            "orders_tracked": report.orders,
            "orders_refreshed": report.refreshed,
            "new_events": report.new_events,
            "malformed_events": report.malformed_events,
            "api_calls": report.api_calls,
        },
    )
    if report.orders and not report.refreshed:
        raise Failure(description=f"no order's logistics could be refreshed: {message}")


@job(executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def track_logistics() -> None:
    """Refresh logistics for pushed orders that are not yet delivered."""
    refresh_logistics()


track_logistics_hourly = ScheduleDefinition(
    name="track_logistics_hourly",
    job=track_logistics,
    cron_schedule="5 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every hour at :05, so customers' questions get today's answer.",
)


# -- apply_callbacks ---------------------------------------------------------------------


class ApplyCallbacksConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Spool file names (in pending/) to apply; empty: every pending callback.",
    )


@op(pool=ORDERS_POOL, out={})
def apply_spooled_callbacks(
    context: OpExecutionContext,
    config: ApplyCallbacksConfig,
    duckdb_warehouse: WarehouseResource,
    callback_spool: CallbackSpoolResource,
) -> Iterator[AssetMaterialization]:
    """Haier's confirm, cancel and out-of-stock callbacks, applied to orders."""
    warehouse = duckdb_warehouse.warehouse(owner=f"run {context.run.run_id} (apply_callbacks)")
    report = CallbackApplier(warehouse, callback_spool.spool(), context.log).run(config.files)
    context.log.info(report.message())
    if report.applied:
        yield AssetMaterialization(
            ORDERS.name,
            description=report.message(),
            metadata={
                "callbacks_applied": len(report.applied),
                "callbacks_unknown_order": len(report.unknown),
            },
        )


@job(executor_def=in_process_executor, tags=POOL_JOB_TAGS)
def apply_callbacks() -> None:
    """Apply the callbacks the receiver spooled (confirm, cancel, out of stock) to orders."""
    apply_spooled_callbacks()


# -- cancel_order and reschedule_order ----------------------------------------------------


class CancelOrderConfig(Config):
    so_id: str = Field(description="The shop's sub-order number (soId) of a pushed order.")
    reason: str = Field(description="Why the order is cancelled; sent to YLH as cancelReason.")


@op
def cancel_pushed_order(
    context: OpExecutionContext,
    config: CancelOrderConfig,
    ylh: YlhResource,
    duckdb_warehouse: WarehouseResource,
) -> None:
    """Ask YLH to cancel; Haier's cancel callback then marks the order cancelled."""
    warehouse = duckdb_warehouse.warehouse(owner=f"run {context.run.run_id} (cancel_order)")
    with ylh.client() as client, _refusals_as_failures():
        number = cancel_order(client, warehouse, config.so_id, config.reason, ylh.source_system)
    context.log.info(
        f"cancellation of soId {config.so_id.strip()} ({number}) accepted by YLH; the order "
        "becomes cancelled when Haier's cancel callback arrives"
    )


@job(name="cancel_order", executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def cancel_order_job() -> None:
    """Cancel a pushed order at YLH (launch from the UI with its soId and a reason)."""
    cancel_pushed_order()


class RescheduleOrderConfig(Config):
    retail_order_no: str = Field(description="YLH's order number, e.g. SO.20250430.000001.")
    distribution_date: str = Field(
        default="",
        description="New delivery day, e.g. 2025-05-03 (sent as 23:59:59 Beijing time); "
        "empty: unchanged.",
    )
    install_date: str = Field(
        default="", description="New installation day, same format; empty: unchanged."
    )


@op
def reschedule_delivery(
    context: OpExecutionContext, config: RescheduleOrderConfig, ylh: YlhResource
) -> None:
    """Move delivery and/or installation to another day (YLH 3.3)."""
    with ylh.client() as client, _refusals_as_failures():
        distribution, install = reschedule_order(
            client, config.retail_order_no, config.distribution_date, config.install_date
        )
    moved = [
        f"{name} {moment.isoformat()}"
        for name, moment in (("delivery", distribution), ("installation", install))
        if moment is not None
    ]
    context.log.info(f"{config.retail_order_no.strip()}: {' and '.join(moved)} accepted by YLH")


@job(name="reschedule_order", executor_def=in_process_executor, tags=ORDER_JOB_TAGS)
def reschedule_order_job() -> None:
    """Move an order's delivery or installation day (launch from the UI)."""
    reschedule_delivery()


@contextlib.contextmanager
def _refusals_as_failures() -> Iterator[None]:
    """A refused change is the user's to fix: one clear line, no traceback, no retry."""
    try:
        yield
    except OrderChangeError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    except HaierBusinessError as refusal:
        raise Failure(
            description=f"YLH refused ({refusal.code}): {refusal.message}", allow_retries=False
        ) from None


# -- balance_snapshot ---------------------------------------------------------------------


@asset(
    name=ACCOUNT_BALANCE.name,
    group_name=FINANCE_GROUP,
    description=ACCOUNT_BALANCE.description,
    kinds={"duckdb", "python"},
    owners=OWNERS,
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
    ),
    metadata={
        "dagster/column_schema": column_schema(ACCOUNT_BALANCE),
        "dagster/table_name": ACCOUNT_BALANCE.name,
    },
)
def account_balance(
    context: AssetExecutionContext, haier: HaierApiResource, duckdb_warehouse: WarehouseResource
) -> MaterializeResult:
    """Append the payer account balances of every sale group (JSH 2.5)."""
    warehouse = duckdb_warehouse.for_run(context, "balance_snapshot")
    with haier.client() as jsh:
        snapshot = snapshot_balance(jsh, warehouse, context.run.run_id)
    rows = "".join(f"| {group} | {amount} |\n" for group, amount in snapshot.balances.items())
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(snapshot.balances),
            "fetched_at": snapshot.fetched_at.isoformat(),
            "malformed_records": snapshot.malformed,
            "balances": MetadataValue.md("| sale group | balance |\n|---|---|\n" + rows),
        }
    )


@asset_check(
    asset=account_balance,
    name="balance_covers_pushed_orders",
    description="The latest balance of each sale group is at least HAIER_BALANCE_MIN, and the "
    "total covers the total_amt of orders pushed and not yet confirmed.",
)
def balance_covers_pushed_orders(
    duckdb_warehouse: WarehouseResource, balance_policy: BalancePolicyResource
) -> AssetCheckResult:
    minimum = balance_policy.minimum_amount()
    path = duckdb_warehouse.warehouse().path
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as con:
            latest, unconfirmed = db.latest_balances(con), db.unconfirmed_total(con)
    else:
        latest, unconfirmed = {}, Decimal(0)
    problems = balance_problems(latest, minimum, unconfirmed)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "total_balance": str(sum(latest.values(), Decimal(0))),
            "pushed_unconfirmed_total": str(unconfirmed),
            "minimum": str(minimum),
        },
    )


balance_snapshot = define_asset_job(
    "balance_snapshot",
    selection=AssetSelection.assets(account_balance),
    executor_def=in_process_executor,
    description="Record the payer account balances and check that they cover pushed orders.",
)

balance_snapshot_daily = ScheduleDefinition(
    name="balance_snapshot_daily",
    job=balance_snapshot,
    cron_schedule="0 8 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning at 08:00 Beijing time, before the day's orders are pushed.",
)

ORDER_ASSETS = [*ORDER_TABLE_SPECS, account_balance]
ORDER_CHECKS = [balance_covers_pushed_orders]
ORDER_JOBS = [
    push_orders,
    track_logistics,
    apply_callbacks,
    cancel_order_job,
    reschedule_order_job,
    balance_snapshot,
]
ORDER_SCHEDULES = [push_orders_every_15_min, track_logistics_hourly, balance_snapshot_daily]
