"""push_orders_every_15_min launches a run only when an order file waits in the inbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import RunRequest, SkipReason, build_schedule_context

from haier_pipeline.dagster_defs.orders.schedules import push_orders_every_15_min
from haier_pipeline.dagster_defs.resources import OrderInboxResource


def _tick(inbox: Path) -> RunRequest | SkipReason:
    """What the daemon gets from one tick: a run request, or the reason for skipping."""
    context = build_schedule_context(resources={"order_inbox": OrderInboxResource(path=str(inbox))})
    tick = push_orders_every_15_min.evaluate_tick(context)
    if tick.run_requests:
        [request] = tick.run_requests
        return request
    return SkipReason(tick.skip_message)


def test_an_empty_inbox_skips_with_the_reason(tmp_path: Path) -> None:
    result = _tick(tmp_path)
    assert isinstance(result, SkipReason)
    assert f"no order file waits in {tmp_path}" in (result.skip_message or "")


def test_a_missing_inbox_skips_naming_the_variable(tmp_path: Path) -> None:
    result = _tick(tmp_path / "missing")
    assert isinstance(result, SkipReason)
    assert "HAIER_ORDER_INBOX" in (result.skip_message or "")


@pytest.mark.parametrize("names", [["a.json"], ["a.json", "b.json"]])
def test_a_waiting_order_file_launches_one_run(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not an order", encoding="utf-8")
    result = _tick(tmp_path)
    assert isinstance(result, RunRequest)
    assert result.tags["haier/order_files"] == str(len(names))
