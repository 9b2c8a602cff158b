"""The alert sensors against a real Dagster instance, real runs and loopback targets.

Runs are real (execute_in_process on the test's instance); sensors are evaluated through
Dagster's testing API (build_run_status_sensor_context, build_sensor_context), as the daemon
would evaluate them, and their alerts arrive over HTTP at the targets of
``haier_pipeline_tests.alerts.webhooks``, which verify the vendors' signatures.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from dagster import (
    AssetMaterialization,
    ExecuteInProcessResult,
    SensorResult,
    SkipReason,
    build_sensor_context,
)
from dagster import build_run_status_sensor_context as run_context

from haier_pipeline.alerts import sender
from haier_pipeline.dagster_defs.alerts import sensors
from haier_pipeline.dagster_defs.alerts.resources import AlertsResource
from haier_pipeline.dagster_defs.alerts.sensors import (
    FAIL_WINDOW,
    balance_alerts,
    catalog_freshness_alerts,
    order_alerts,
    run_failure_alerts,
)
from haier_pipeline.dagster_defs.resources import WarehouseResource
from haier_pipeline_tests.alerts.webhooks import SECRET, Target
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import drop_order, unstocked_code

UI = "http://127.0.0.1:3000"


@pytest.fixture(autouse=True)
def _fresh_alert_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own rate limit and memory of delivered alerts (process-wide otherwise)."""
    monkeypatch.setattr(sender, "SHARED_LIMIT", sender.RateLimiter())
    monkeypatch.setattr(sender, "DELIVERED", sender.DeliveredKeys())


def _alerts(target_url: str, kind: str = "webhook") -> AlertsResource:
    return AlertsResource(kind=kind, webhook_url=target_url, secret=SECRET, ui_url=UI)


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/alerts"


@pytest.fixture
def webhook() -> Iterator[Target]:
    with Target("webhook") as target:
        yield target


# -- failed runs ---------------------------------------------------------------------------


def _failed_balance_run(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> ExecuteInProcessResult:
    monkeypatch.setenv("HAIER_CUSTOMER_PASSWORD", "not-the-password")
    result = pipeline.run("balance_snapshot")
    assert not result.success
    return result


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "wecom", "slack", "webhook"])
def test_a_failed_run_is_alerted_with_job_account_cause_and_link(
    kind: str, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _failed_balance_run(pipeline, monkeypatch)
    with Target(kind) as target:
        context = run_context(
            sensor_name="run_failure_alerts",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=pipeline.instance,
            dagster_run=result.dagster_run,
            resources={"alerts": _alerts(target.url, kind)},
        ).for_run_failure()
        run_failure_alerts(context)

    assert target.problems == []
    [text] = target.texts()
    assert "balance_snapshot" in text
    assert "account all" in text  # balance_snapshot without a partition serves every account
    assert "HAIER_CUSTOMER_PASSWORD" in text  # the one-line cause names what to fix
    assert f"{UI}/runs/{result.run_id}" in text
    assert "not-the-password" not in text and SECRET.encode() not in target.received[0].raw
    assert len(text.splitlines()) <= 3


def test_a_webhook_run_alert_has_the_contract_fields(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, webhook: Target
) -> None:
    result = _failed_balance_run(pipeline, monkeypatch)
    context = run_context(
        sensor_name="run_failure_alerts",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=pipeline.instance,
        dagster_run=result.dagster_run,
        resources={"alerts": _alerts(webhook.url)},
    ).for_run_failure()
    run_failure_alerts(context)
    run_failure_alerts(context)  # the same run again: delivered once

    [request] = webhook.received
    body = request.body
    assert (body["kind"], body["job"], body["account"]) == ("run_failed", "balance_snapshot", "all")
    assert body["run_id"] == result.run_id
    assert "HAIER_CUSTOMER_PASSWORD" in body["text"]


def test_a_dead_webhook_does_not_fail_the_run_failure_sensor(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _failed_balance_run(pipeline, monkeypatch)
    context = run_context(
        sensor_name="run_failure_alerts",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=pipeline.instance,
        dagster_run=result.dagster_run,
        resources={"alerts": _alerts(_dead_url())},
    ).for_run_failure()
    run_failure_alerts(context)  # logged, not raised


def test_without_a_webhook_url_nothing_is_sent(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAIER_ALERT_WEBHOOK_URL", raising=False)
    context = build_sensor_context(
        instance=pipeline.instance,
        resources={
            "alerts": AlertsResource(),
            "duckdb_warehouse": WarehouseResource(path=str(pipeline.duckdb_path)),
        },
    )
    assert isinstance(order_alerts(context), SkipReason)


# -- orders --------------------------------------------------------------------------------


def _tick(
    sensor: Any, pipeline: Pipeline, url: str, cursor: str | None, **resources: object
) -> SensorResult:
    """One evaluation of ``sensor`` on the pipeline's instance, alerting to ``url``."""
    context = build_sensor_context(
        instance=pipeline.instance,
        cursor=cursor,
        resources={"alerts": _alerts(url), **resources},
    )
    result = sensor(context)
    assert isinstance(result, SensorResult)
    return result


def _order_tick(pipeline: Pipeline, url: str, cursor: str | None) -> SensorResult:
    warehouse = WarehouseResource(path=str(pipeline.duckdb_path))
    return _tick(order_alerts, pipeline, url, cursor, duckdb_warehouse=warehouse)


@pytest.mark.usefixtures("seeded_catalog")
def test_rejected_orders_are_alerted_once_across_ticks(pipeline: Pipeline, webhook: Target) -> None:
    no_stock = unstocked_code(pipeline.sandbox)
    for so_id in ("SO-A1", "SO-A2"):
        drop_order(so_id, no_stock)
    pipeline.run("push_orders")

    first = _order_tick(pipeline, webhook.url, None)
    again = _order_tick(pipeline, webhook.url, first.cursor)

    [request] = webhook.received
    body = request.body
    assert (body["kind"], body["job"], body["account"]) == ("order", "push_orders", "default")
    assert "SO-A1: rejected" in body["text"] and "SO-A2: rejected" in body["text"]
    assert body["run_id"] == pipeline.instance.get_runs(limit=1)[0].run_id
    assert again.cursor == first.cursor

    drop_order("SO-A3", no_stock)
    pipeline.run("push_orders")
    _order_tick(pipeline, webhook.url, again.cursor)
    assert len(webhook.received) == 2
    assert "SO-A3: rejected" in webhook.received[1].body["text"]
    assert "SO-A1" not in webhook.received[1].body["text"]


@pytest.mark.usefixtures("seeded_catalog")
def test_an_order_alert_lost_to_a_dead_webhook_is_sent_when_it_is_back(
    pipeline: Pipeline, webhook: Target
) -> None:
    drop_order("SO-DEAD", unstocked_code(pipeline.sandbox))
    pipeline.run("push_orders")

    down = _order_tick(pipeline, _dead_url(), None)  # no exception: the tick completes
    assert down.cursor == "{}"
    _order_tick(pipeline, webhook.url, down.cursor)

    [request] = webhook.received
    assert "SO-DEAD: rejected" in request.body["text"]


# -- catalog freshness ---------------------------------------------------------------------


def _freshness_tick(pipeline: Pipeline, url: str, cursor: str | None) -> SensorResult:
    return _tick(catalog_freshness_alerts, pipeline, url, cursor)


def test_a_table_is_alerted_once_when_its_freshness_turns_fail(
    pipeline: Pipeline, webhook: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed = datetime.now().astimezone()
    pipeline.instance.report_runless_asset_event(
        AssetMaterialization("products", partition="default")
    )
    fresh = _freshness_tick(pipeline, webhook.url, None)
    assert webhook.received == []

    later = refreshed + FAIL_WINDOW + timedelta(hours=1)
    monkeypatch.setattr(sensors, "_now", lambda: later)
    stale = _freshness_tick(pipeline, webhook.url, fresh.cursor)
    still = _freshness_tick(pipeline, webhook.url, stale.cursor)

    [request] = webhook.received
    body = request.body
    assert (body["kind"], body["job"], body["account"]) == ("freshness", "catalog_sync", "default")
    assert body["tables"] == ["products"]  # prices and stock never synced: no freshness yet
    assert "products last refreshed" in body["text"] and "37 h ago" in body["text"]
    assert still.cursor == stale.cursor == '["products/default"]'


# -- balance -------------------------------------------------------------------------------


def _balance_tick(pipeline: Pipeline, url: str, cursor: str | None) -> SensorResult:
    return _tick(balance_alerts, pipeline, url, cursor)


def test_the_balance_warn_is_alerted_when_it_turns_warn(
    pipeline: Pipeline, webhook: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_BALANCE_MIN", "100000000000")
    warned = pipeline.run("balance_snapshot")
    first = _balance_tick(pipeline, webhook.url, None)
    assert pipeline.run("balance_snapshot").success  # still WARN: no second alert
    second = _balance_tick(pipeline, webhook.url, first.cursor)

    [request] = webhook.received
    body = request.body
    assert (body["kind"], body["job"], body["run_id"]) == (
        "balance",
        "balance_snapshot",
        warned.run_id,
    )
    assert "is below HAIER_BALANCE_MIN 100000000000" in body["text"]

    monkeypatch.setenv("HAIER_BALANCE_MIN", "-100000000000")
    pipeline.run("balance_snapshot")
    passed = _balance_tick(pipeline, webhook.url, second.cursor)
    monkeypatch.setenv("HAIER_BALANCE_MIN", "100000000000")
    pipeline.run("balance_snapshot")
    _balance_tick(pipeline, webhook.url, passed.cursor)
    assert len(webhook.received) == 2  # WARN, passed, WARN again: alerted again


def test_an_unusable_alert_setting_is_logged_and_the_sensor_skips(
    pipeline: Pipeline, webhook: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """A sensor that raised would fail every tick; it says what to fix and sends nothing."""
    context = build_sensor_context(
        instance=pipeline.instance,
        resources={"alerts": AlertsResource(kind="teams", webhook_url=webhook.url)},
    )
    with caplog.at_level("WARNING", "haier_pipeline.alerts"):
        assert isinstance(balance_alerts(context), SkipReason)

    assert "alerts are off: HAIER_ALERT_KIND='teams' is not one of wecom" in caplog.text
    assert webhook.received == []
