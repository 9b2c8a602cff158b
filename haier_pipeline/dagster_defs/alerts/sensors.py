"""Sensors that tell the team's chat what needs a person (targets: HAIER_ALERT_*).

- ``run_failure_alerts`` (Dagster's ``run_failure_sensor``): every failed run of any job in
  this code location, once (Dagster's cursor), with the job, the account (the run's partition,
  or ``all``), the one-line cause and the run's page under HAIER_UI_URL.
- ``order_alerts``: orders that ended rejected, failed or out_of_stock, read from the published
  DuckDB file. The cursor maps each order alerted in the last day to the status it was alerted
  in: one alert per order and status, however often a failed order is retried.
- ``catalog_freshness_alerts``: a catalog table of an account whose last refresh is older than
  the table's freshness policy's fail window, once when it turns FAIL (the cursor holds the
  stale ones). Computed per account from the partitions' materializations, because Dagster's
  own freshness evaluation is per asset, not per partition, and needs ``freshness: enabled``.
- ``balance_alerts``: an evaluation of the balance check that fails with WARN after one that
  passed (the cursor holds the last evaluation seen and whether it warned).

Every sensor skips when HAIER_ALERT_WEBHOOK_URL is unset, never raises over a failed delivery
(it is logged; the cursor sensors keep what was not delivered and try again next tick), and
runs apart from the jobs, so an alert can never hold a run up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from haier_pipeline.accounts import account_names, load_accounts
from haier_pipeline.alerts import digest
from haier_pipeline.alerts.sender import AlertSender
from haier_pipeline.dagster_defs.alerts.resources import AlertsResource
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS
from haier_pipeline.dagster_defs.finance.checks import balance_covers_pushed_orders
from haier_pipeline.dagster_defs.resources import WarehouseResource
from haier_pipeline.haier.masking import get_logger
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK

LOG = get_logger("haier_pipeline.alerts")

ORDER_HORIZON = timedelta(days=1)
"""Orders that changed within this long are looked at; the cursor forgets older ones, so it
stays small. An order failing on every retry keeps changing, and so stays remembered."""
CATALOG_TABLES = (PRODUCTS.name, PRICES.name, STOCK.name)
FAIL_WINDOW = DAILY_FRESHNESS.fail_window.to_timedelta()
[BALANCE_CHECK] = balance_covers_pushed_orders.check_keys
PARTITION_TAG = "dagster/partition"
NO_ALERTS = "HAIER_ALERT_WEBHOOK_URL is not set (or not usable): no alerts"


def _now() -> datetime:
    return datetime.now(UTC)


def _account(run: DagsterRun | None) -> str:
    """The run's account: its partition, or ``all`` for a run that served every account."""
    return (run.tags.get(PARTITION_TAG) if run else None) or digest.ALL_ACCOUNTS


# -- failed runs ---------------------------------------------------------------------------


@run_failure_sensor(
    name="run_failure_alerts",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends every failed run (job, account, cause, link) to HAIER_ALERT_WEBHOOK_URL.",
)
def run_failure_alerts(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
    sender = alerts.sender()
    if sender is None:
        return
    run = context.dagster_run
    alert = digest.run_failed(run.job_name, _account(run), run.run_id, _cause(context), alerts.ui())
    sender.send(alert)


def _cause(context: RunFailureSensorContext) -> str:
    """The first failed step's own line (a ``Failure`` description, else its error), else the
    run's failure (a resource that could not start, say)."""
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error:
            return data.error.message
    error = getattr(context.failure_event.event_specific_data, "error", None)
    return error.message if error else (context.failure_event.message or "")


# -- orders --------------------------------------------------------------------------------

_ORDER_ENDS = f"""
SELECT account, so_id, status, coalesce(last_error, ''), updated_at FROM orders
WHERE status IN ({", ".join("?" for _ in digest.ALERTED_STATUSES)}) AND updated_at >= ?
ORDER BY updated_at, account, so_id
"""


@sensor(
    name="order_alerts",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends orders that end rejected, failed or out_of_stock, once per order and "
    "status, to HAIER_ALERT_WEBHOOK_URL.",
)
def order_alerts(
    context: SensorEvaluationContext, alerts: AlertsResource, duckdb_warehouse: WarehouseResource
) -> SensorResult | SkipReason:
    sender = alerts.sender()
    if sender is None:
        return SkipReason(NO_ALERTS)
    since = _now() - ORDER_HORIZON
    rows = duckdb_warehouse.warehouse().read(_ORDER_ENDS, [*digest.ALERTED_STATUSES, since])
    ends = [digest.OrderEnd(str(a), str(s), str(st), str(r), t) for a, s, st, r, t in rows]
    alerted: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    delivered = _send_orders(context.instance, sender, digest.unalerted(ends, alerted), alerts)
    current = {end.key: end.status for end in ends}
    kept = {key: status for key, status in current.items() if alerted.get(key) == status}
    cursor = json.dumps({**kept, **delivered}, sort_keys=True)
    return SensorResult(skip_reason=f"{len(delivered)} order(s) alerted", cursor=cursor)


def _send_orders(
    instance: DagsterInstance,
    sender: AlertSender,
    ends: Sequence[digest.OrderEnd],
    alerts: AlertsResource,
) -> dict[str, str]:
    """One alert per account and job; the orders whose alert was delivered, with status."""
    delivered: dict[str, str] = {}
    for (account, job), group in digest.by_account_and_job(ends).items():
        run_id = _run_before(instance, job, max(end.updated_at for end in group))
        if not sender.send(digest.orders(account, job, group, run_id, alerts.ui())):
            break  # the target is down or over its limit: the next tick tries again
        delivered.update({end.key: end.status for end in group})
    return delivered


def _run_before(instance: DagsterInstance, job: str, moment: datetime) -> str | None:
    """The run of ``job`` that made the change: the latest one started by ``moment`` (the
    order jobs share the haier_orders pool, so they do not overlap)."""
    runs = instance.get_runs(RunsFilter(job_name=job, created_before=moment), limit=1)
    return runs[0].run_id if runs else None


# -- catalog freshness ---------------------------------------------------------------------


@sensor(
    name="catalog_freshness_alerts",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends a catalog table of an account whose freshness turns FAIL to "
    "HAIER_ALERT_WEBHOOK_URL.",
)
def catalog_freshness_alerts(
    context: SensorEvaluationContext, alerts: AlertsResource
) -> SensorResult | SkipReason:
    sender = alerts.sender()
    if sender is None:
        return SkipReason(NO_ALERTS)
    now = _now()
    was_stale: set[str] = set(json.loads(context.cursor)) if context.cursor else set()
    stale: set[str] = set()
    for account in account_names(load_accounts()):
        found = _stale_tables(context.instance, account, now)
        stale |= {f"{table}/{account}" for table in found}
        new = {
            table: at for table, (at, _) in found.items() if f"{table}/{account}" not in was_stale
        }
        if not new:
            continue
        run_id = max(found.values())[1]
        alert = digest.stale_tables(account, new, FAIL_WINDOW, now, run_id, alerts.ui())
        if not sender.send(alert):
            stale -= {f"{table}/{account}" for table in new}  # not told yet: try next tick
    cursor = json.dumps(sorted(stale))
    return SensorResult(skip_reason=f"{len(stale)} stale table(s)", cursor=cursor)


def _stale_tables(
    instance: DagsterInstance, account: str, now: datetime
) -> dict[str, tuple[datetime, str]]:
    """Each catalog table of ``account`` last refreshed more than the fail window ago, with
    when and by which run. A table never refreshed has no freshness yet, and is not stale."""
    stale = {}
    for table in CATALOG_TABLES:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(table), asset_partitions=[account]), limit=1
        ).records
        if records:
            at = datetime.fromtimestamp(records[0].timestamp, UTC)
            if now - at > FAIL_WINDOW:
                stale[table] = (at, records[0].run_id)
    return stale


# -- balance ---------------------------------------------------------------------------------


@sensor(
    name="balance_alerts",
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends the balance check's WARN to HAIER_ALERT_WEBHOOK_URL when it turns WARN.",
)
def balance_alerts(
    context: SensorEvaluationContext, alerts: AlertsResource
) -> SensorResult | SkipReason:
    sender = alerts.sender()
    if sender is None:
        return SkipReason(NO_ALERTS)
    state = json.loads(context.cursor) if context.cursor else {"after": 0, "warned": False}
    history = context.instance.event_log_storage.get_asset_check_execution_history(
        BALANCE_CHECK, limit=50
    )
    done = (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED)
    for record in sorted(history, key=lambda r: r.id):
        event = record.event.dagster_event if record.event else None
        if record.id <= state["after"] or record.status not in done or event is None:
            continue
        evaluation = event.asset_check_evaluation_data
        warns = not evaluation.passed
        if warns and not state["warned"]:
            run = context.instance.get_run_by_id(record.run_id)
            alert = digest.balance_warning(
                _account(run), evaluation.description or "", record.run_id, record.id, alerts.ui()
            )
            if not sender.send(alert):
                break  # try this evaluation again next tick
        state = {"after": record.id, "warned": warns}
    return SensorResult(skip_reason="balance check seen", cursor=json.dumps(state))


ALERT_SENSORS = [run_failure_alerts, order_alerts, catalog_freshness_alerts, balance_alerts]
