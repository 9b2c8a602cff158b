"""What an operator sees when a catalog sync fails: one line naming the variable to fix, a
phase that stops instead of repeating a refusal, no fresh-looking data, no red checks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from dagster import AssetKey, DagsterEventType, EventLogRecord, ExecuteInProcessResult
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from haier_pipeline.catalog.sync import STOP_AFTER_REFUSALS
from haier_pipeline.dagster_defs.catalog.checks import RULES
from haier_pipeline.definitions import build_defs
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.faults.harness import run_catalog

SMALL = {"size": 40, "seed": 5}


def _step_failure(result: ExecuteInProcessResult) -> tuple[str, object]:
    """The description the UI shows on the failed step, and the error's cause (None: no
    traceback of ours below the one line)."""
    [event] = [e for e in result.all_events if e.is_step_failure]
    data = event.step_failure_data
    assert data.user_failure_data is not None, "not a dagster Failure"
    return data.user_failure_data.description or "", data.error.cause if data.error else None


def _latest_materialization(pipeline: Pipeline, table: str) -> EventLogRecord:
    [record] = pipeline.instance.fetch_materializations(
        AssetKey(table), limit=1, ascending=False
    ).records
    return record


def _latest_materialization_run(pipeline: Pipeline, table: str) -> str:
    return _latest_materialization(pipeline, table).run_id


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HAIER_PASSWORD", "wrong"),
        ("HAIER_CLIENT_SECRET", "wrong"),
        ("HAIER_CUSTOMER_CODE", "0000000000"),
    ],
)
def test_a_wrong_setting_fails_with_one_line_naming_it(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = pipeline.run("catalog_sync")

    description, cause = _step_failure(result)
    assert variable in description
    assert "\n" not in description and cause is None
    assert description.startswith(("products:", "catalog_sync:"))


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_a_refused_stock_phase_stops_early_and_does_not_look_fresh(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_catalog(pipeline)
    assert first.success
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "wrong-seller-password")

    failed = run_catalog(pipeline)  # one call at a time: the stop is exact

    stock_calls = pipeline.sandbox.stats()["calls"].get("stock", 0)
    # one worker keeps two calls submitted, so one more may already be on its way
    assert STOP_AFTER_REFUSALS <= stock_calls <= STOP_AFTER_REFUSALS + 1
    description, cause = _step_failure(failed)
    assert description.startswith("stock: loaded 0 of")
    assert "PASSWORD_WRONG" in description and "fix HAIER_SELLER_PASSWORD" in description
    assert cause is None
    warnings = [
        r.user_message
        for r in pipeline.instance.all_logs(failed.run_id)
        if "stopped" in (r.user_message or "")
    ]
    assert len(warnings) == 1  # reported once, not once per key

    # products and prices were refreshed; stock was not, so its freshness keeps counting
    assert _latest_materialization_run(pipeline, "prices") == failed.run_id
    assert _latest_materialization_run(pipeline, "stock") == first.run_id
    assert _freshness(pipeline, "stock", hours_after_last=1) == FreshnessState.PASS
    assert _freshness(pipeline, "stock", hours_after_last=27) == FreshnessState.WARN
    assert _freshness(pipeline, "stock", hours_after_last=37) == FreshnessState.FAIL


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_checks_of_a_failed_sync_are_evaluated_not_left_failed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_catalog(pipeline).success
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "wrong-seller-password")
    failed = run_catalog(pipeline)

    evaluations = {
        (
            e.asset_check_evaluation_data.asset_key.to_user_string(),
            e.asset_check_evaluation_data.check_name,
        ): e.asset_check_evaluation_data
        for e in failed.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert set(evaluations) == {(rule.asset, rule.name) for rule in RULES}
    assert all(e.passed for e in evaluations.values())
    stock = evaluations[("stock", "stock_not_negative")]
    assert "stock was not refreshed" in (stock.description or "")


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_a_check_executes_alone_against_the_published_tables(pipeline: Pipeline) -> None:
    assert run_catalog(pipeline).success
    pipeline.sandbox.reset_stats()
    job = (
        build_defs()
        .resolve_implicit_global_asset_job_def()
        .get_subset(
            asset_check_selection={
                key
                for key in build_defs().resolve_asset_graph().asset_check_keys
                if key.name == "prices_unique_code"
            },
            asset_selection=set(),
        )
    )
    result = job.execute_in_process(instance=pipeline.instance, raise_on_error=False)

    assert result.success
    assert pipeline.sandbox.stats()["total_calls"] == 0
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.check_name == "prices_unique_code"


def _freshness(pipeline: Pipeline, table: str, *, hours_after_last: float) -> FreshnessState:
    node = build_defs().resolve_asset_graph().get(AssetKey(table))
    at = (
        _latest_materialization(pipeline, table).timestamp
        + timedelta(hours=hours_after_last).total_seconds()
    )
    evaluator = TimeWindowFreshnessPolicyEvaluator()
    with freeze_time(at):
        return asyncio.run(
            evaluator.evaluate_freshness(LoadingContextForTest(pipeline.instance), node)
        )
