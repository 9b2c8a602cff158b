"""The inbox and callback sensors, through Dagster's sensor testing API and end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster import RunRequest, SensorResult, SkipReason, build_sensor_context

from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver
from haier_pipeline.dagster_defs.orders.sensors import callback_spool_sensor, order_inbox_sensor
from haier_pipeline.dagster_defs.resources import CallbackSpoolResource, OrderInboxResource
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import (
    drop_order,
    inbox,
    orders,
    processed,
    push_valid_orders,
    stocked_codes,
)

CONFIRM = "hmm.scm_heorder.confirm"


def _inbox_tick(pipeline: Pipeline, cursor: str | None) -> SensorResult | SkipReason:
    context = build_sensor_context(
        instance=pipeline.instance,
        cursor=cursor,
        resources={"order_inbox": OrderInboxResource(path=str(inbox()))},
    )
    return order_inbox_sensor(context)


def _requested_files(request: RunRequest) -> list[str]:
    return request.run_config["ops"]["push_pending_orders"]["config"]["files"]


@pytest.mark.usefixtures("seeded_catalog")
def test_new_files_are_requested_once_and_the_cursor_follows_the_inbox(
    pipeline: Pipeline,
) -> None:
    first, second, third = stocked_codes(pipeline.sandbox, 3)
    drop_order("SO-1", first)
    drop_order("SO-2", second)

    tick = _inbox_tick(pipeline, None)
    assert isinstance(tick, SensorResult)
    [request] = tick.run_requests
    assert _requested_files(request) == ["SO-1.json", "SO-2.json"]
    assert set(json.loads(tick.cursor)) == {"SO-1.json", "SO-2.json"}

    again = _inbox_tick(pipeline, tick.cursor)
    assert isinstance(again, SensorResult) and again.run_requests == []
    assert _inbox_tick(pipeline, None).run_requests[0].run_key == request.run_key

    drop_order("SO-3", third)
    path = inbox() / "SO-1.json"
    path.write_text(path.read_text(encoding="utf-8").replace("张三", "李四"), encoding="utf-8")
    changed = _inbox_tick(pipeline, tick.cursor)
    [request] = changed.run_requests
    assert _requested_files(request) == ["SO-1.json", "SO-3.json"]

    (inbox() / "SO-2.json").unlink()
    assert set(json.loads(_inbox_tick(pipeline, changed.cursor).cursor)) == {
        "SO-1.json",
        "SO-3.json",
    }


def test_a_missing_inbox_is_a_skip_not_an_error(pipeline: Pipeline) -> None:
    context = build_sensor_context(
        instance=pipeline.instance,
        resources={"order_inbox": OrderInboxResource(path=str(Path(os.devnull) / "nowhere"))},
    )
    data = order_inbox_sensor.evaluate_tick(context)
    assert data.run_requests == [] and "does not exist" in (data.skip_message or "")


@pytest.mark.usefixtures("seeded_catalog")
def test_the_requested_run_pushes_the_files_and_the_next_tick_has_nothing(
    pipeline: Pipeline,
) -> None:
    first, second = stocked_codes(pipeline.sandbox, 2)
    drop_order("SO-E1", first)
    drop_order("SO-E2", second)
    context = build_sensor_context(
        instance=pipeline.instance,
        resources={"order_inbox": OrderInboxResource(path=str(inbox()))},
    )
    data = order_inbox_sensor.evaluate_tick(context)
    [request] = data.run_requests

    result = pipeline.run("push_orders", run_config=request.run_config, tags=request.tags)
    assert result.success
    assert set(pipeline.sandbox.orders) == {"SO-E1", "SO-E2"}
    assert processed("pushed") == ["SO-E1.json", "SO-E2.json"]
    following = _inbox_tick(pipeline, data.cursor)
    assert isinstance(following, SensorResult)
    assert following.run_requests == [] and json.loads(following.cursor) == {}


@pytest.mark.usefixtures("seeded_catalog")
def test_callback_sensor_requests_pending_files_and_the_run_applies_them(
    pipeline: Pipeline,
) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    spool_dir = Path(os.environ["HAIER_CALLBACK_SPOOL"])
    resources = {"callback_spool": CallbackSpoolResource(path=str(spool_dir))}
    account = pipeline.sandbox.account
    empty = callback_spool_sensor(build_sensor_context(resources=resources))
    assert isinstance(empty, SkipReason)

    with CallbackReceiver(
        spool_dir, AccountKey(account.callback_app_key, account.callback_secret)
    ) as rx:
        answer = pipeline.sandbox.send_callback(rx.url, CONFIRM, so_id, 1, ext_order_no="EXT-9")
    assert answer.status_code == 200
    names = sorted(p.name for p in (spool_dir / "pending").glob("*.json"))

    tick = callback_spool_sensor(build_sensor_context(resources=resources))
    [request] = tick.run_requests
    assert request.run_key == names[0]
    assert request.run_config["ops"]["apply_spooled_callbacks"]["config"]["files"] == names
    repeat = callback_spool_sensor(build_sensor_context(resources=resources))
    assert repeat.run_requests[0].run_key == request.run_key  # Dagster launches a key once

    assert pipeline.run("apply_callbacks", run_config=request.run_config).success
    row = orders(pipeline)[so_id]
    assert (row["status"], row["ext_order_no"]) == ("confirmed", "EXT-9")
    assert isinstance(callback_spool_sensor(build_sensor_context(resources=resources)), SkipReason)
