"""track_logistics: events accumulate without duplicates as orders move to DELIVERED."""

from __future__ import annotations

import pytest

from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import orders, push_valid_orders

pytestmark = pytest.mark.usefixtures("seeded_catalog")


def _events(pipeline: Pipeline, so_id: str) -> list[tuple[object, ...]]:
    return pipeline.rows(
        "SELECT status, logistics_no, logistics_company, sn_code, source FROM logistics_events "
        "WHERE so_id = ? ORDER BY status_time",
        (so_id,),
    )


def test_events_accumulate_once_each_until_delivered_and_then_tracking_stops(
    pipeline: Pipeline,
) -> None:
    moving, waiting = push_valid_orders(pipeline, 2)
    sandbox = pipeline.sandbox
    assert pipeline.run("track_logistics").success
    assert [row[0] for row in _events(pipeline, moving)] == ["CREATED"]

    assert pipeline.run("track_logistics").success  # nothing moved: nothing new
    assert pipeline.rows("SELECT count(*) FROM logistics_events") == [(2,)]

    for expected in ("OUT_OF_WAREHOUSE", "IN_TRANSIT", "DELIVERED"):
        sandbox.advance_logistics(moving)
        assert pipeline.run("track_logistics").success
        assert orders(pipeline)[moving]["logistics_status"] == expected
    events = _events(pipeline, moving)
    assert [row[0] for row in events] == ["CREATED", "OUT_OF_WAREHOUSE", "IN_TRANSIT", "DELIVERED"]
    parcel = sandbox.orders[moving]["events"][-1]
    assert {row[1:4] for row in events} == {
        (parcel["logisticsNo"], parcel["logisticsCompany"], parcel["snCode"])
    }
    assert orders(pipeline)[waiting]["logistics_status"] == "CREATED"

    sandbox.advance_logistics(moving)  # INSTALLED: the order is delivered, no longer tracked
    sandbox.reset_stats()
    result = pipeline.run("track_logistics")
    assert result.success
    assert sandbox.stats()["served"]["logistics"] == 1  # only the waiting order
    assert len(_events(pipeline, moving)) == 4
    assert pipeline.rows(
        "SELECT count(*) = count(DISTINCT (so_id, logistics_no, status)) FROM logistics_events"
    ) == [(True,)]
    assert pipeline.rows(
        "SELECT status, total_count, success_count FROM sync_log WHERE run_id = ?",
        (result.run_id,),
    ) == [("success", 1, 1)]


def test_with_no_order_on_its_way_nothing_is_called_and_one_row_logged(pipeline: Pipeline) -> None:
    assert pipeline.run("track_logistics").success
    assert pipeline.sandbox.stats()["served"].get("logistics", 0) == 0
    assert pipeline.rows(
        "SELECT status, total_count FROM sync_log WHERE sync_type = 'logistics'"
    ) == [("success", 0)]
