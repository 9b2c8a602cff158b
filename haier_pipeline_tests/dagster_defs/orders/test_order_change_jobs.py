"""cancel_order and reschedule_order, launched with Dagster config as a user would from the UI."""

from __future__ import annotations

from datetime import datetime

import pytest
from dagster import ExecuteInProcessResult

from haier_pipeline.haier.ylh import SHANGHAI
from haier_pipeline.orders.model import to_epoch_ms
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_text
from haier_pipeline_tests.dagster_defs.order_helpers import orders, push_valid_orders

pytestmark = pytest.mark.usefixtures("seeded_catalog")


def _failure(result: ExecuteInProcessResult) -> str:
    assert not result.success
    return failure_text(result)


def _cancel(pipeline: Pipeline, so_id: str, reason: str = "顾客取消") -> ExecuteInProcessResult:
    config = {"so_id": so_id, "reason": reason}
    return pipeline.run(
        "cancel_order", run_config={"ops": {"cancel_pushed_order": {"config": config}}}
    )


def _reschedule(pipeline: Pipeline, **config: str) -> ExecuteInProcessResult:
    return pipeline.run(
        "reschedule_order", run_config={"ops": {"reschedule_delivery": {"config": config}}}
    )


def test_cancel_reaches_ylh_and_the_order_waits_for_haiers_callback(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    assert _cancel(pipeline, so_id).success
    held = pipeline.sandbox.orders[so_id]
    assert (held["cancelled"], held["cancelReason"]) == (True, "顾客取消")
    assert orders(pipeline)[so_id]["status"] == "pushed"


def test_cancel_refuses_unknown_and_refused_orders_before_calling_ylh(pipeline: Pipeline) -> None:
    assert "'SO-NOPE' is not in the orders table" in _failure(_cancel(pipeline, "SO-NOPE"))
    assert pipeline.sandbox.stats()["served"].get("order_cancel", 0) == 0


def test_a_ylh_refusal_to_cancel_is_one_clear_line(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    pipeline.sandbox.advance_logistics(so_id)  # out of the warehouse: too late to cancel
    assert "YLH refused (ORDER_ALREADY_SHIPPED)" in _failure(_cancel(pipeline, so_id))


def test_reschedule_sends_the_day_at_23_59_59_beijing_time(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    number = orders(pipeline)[so_id]["retail_order_no"]
    result = _reschedule(
        pipeline,
        retail_order_no=number,
        distribution_date="2026-12-03",
        install_date="2026-12-04T23:59:59+08:00",
    )
    assert result.success
    held = pipeline.sandbox.orders[so_id]
    assert held["distributionTime"] == to_epoch_ms(
        datetime(2026, 12, 3, 23, 59, 59, tzinfo=SHANGHAI)
    )
    assert held["installTime"] == to_epoch_ms(datetime(2026, 12, 4, 23, 59, 59, tzinfo=SHANGHAI))


def test_a_time_other_than_23_59_59_is_refused_before_sending(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    number = orders(pipeline)[so_id]["retail_order_no"]
    message = _failure(
        _reschedule(pipeline, retail_order_no=number, distribution_date="2026-12-03T09:00:00+08:00")
    )
    assert "distribution_date '2026-12-03T09:00:00+08:00' is 2026-12-03 09:00:00" in message
    assert "write 2026-12-03 or 2026-12-03T23:59:59+08:00" in message
    assert pipeline.sandbox.stats()["served"].get("order_reschedule", 0) == 0
