"""Delivery and installation photos: collected by track_logistics once an order is delivered,
and fetched for one order by fetch_delivery_photos, never stored twice."""

from __future__ import annotations

import pytest
from dagster import ExecuteInProcessResult

from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_text
from haier_pipeline_tests.dagster_defs.order_helpers import orders, push_valid_orders

pytestmark = pytest.mark.usefixtures("seeded_catalog")


def _photos(pipeline: Pipeline, number: str) -> list[tuple[object, ...]]:
    return pipeline.rows(
        "SELECT position, photo_type, image_url FROM delivery_photos WHERE retail_order_no = ? "
        "ORDER BY position",
        (number,),
    )


def _fetch(pipeline: Pipeline, number: str) -> ExecuteInProcessResult:
    config = {"ops": {"fetch_delivery_photos": {"config": {"retail_order_no": number}}}}
    return pipeline.run("fetch_delivery_photos", run_config=config)


def test_tracking_collects_the_photos_once_an_order_is_delivered(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    number = orders(pipeline)[so_id]["retail_order_no"]
    sandbox = pipeline.sandbox
    for _ in range(2):  # OUT_OF_WAREHOUSE, IN_TRANSIT: not delivered, no photos asked for
        sandbox.advance_logistics(so_id)
        assert pipeline.run("track_logistics").success
    assert sandbox.stats()["served"].get("delivery_images", 0) == 0

    sandbox.advance_logistics(so_id)  # DELIVERED
    assert pipeline.run("track_logistics").success
    [(position, kind, url)] = _photos(pipeline, number)
    assert (position, kind) == (1, "delivery") and number in str(url)

    assert pipeline.run("track_logistics").success  # photos stored: not asked for again
    assert sandbox.stats()["served"]["delivery_images"] == 1


def test_the_job_fetches_one_orders_photos_without_duplicates(pipeline: Pipeline) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    number = orders(pipeline)[so_id]["retail_order_no"]
    for _ in range(4):  # up to INSTALLED: a delivery and an installation photo
        pipeline.sandbox.advance_logistics(so_id)

    assert _fetch(pipeline, number).success
    assert _fetch(pipeline, number).success
    assert [row[:2] for row in _photos(pipeline, number)] == [
        (1, "delivery"),
        (2, "installation"),
    ]


def test_an_unknown_order_fails_with_one_line(pipeline: Pipeline) -> None:
    result = _fetch(pipeline, "SO.19700101.000001")
    assert not result.success
    assert "photos of SO.19700101.000001" in failure_text(result)
