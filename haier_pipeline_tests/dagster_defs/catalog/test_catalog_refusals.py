"""Refusals judged by what they do, not by their code: a gateway that answers a wrong password
with a code this client has never seen still stops the phase early, and the one line names
the account and the variable that account reads; identical refusals after a success are about
records and stop nothing; an unreachable gateway is named as such."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from dagster import AssetKey, ExecuteInProcessResult

from haier_pipeline.catalog.sync import STOP_AFTER_REFUSALS
from haier_pipeline.dagster_defs.resources import HaierApiResource
from haier_pipeline.sandbox import FaultConfig
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.file_account import south_account
from haier_pipeline_tests.faults.harness import run_catalog, sync_log

# A code no client has been written for, different in every run.
UNSEEN = f"E-{random.randrange(1000, 9999)}"
WRONG_PASSWORD = {"size": 40, "seed": 5, "refusal_code": UNSEEN, "refusal_message": "密码错误"}


def _step_failure(result: ExecuteInProcessResult) -> tuple[str, object]:
    [event] = [e for e in result.all_events if e.is_step_failure]
    data = event.step_failure_data
    assert data.user_failure_data is not None, "not a dagster Failure"
    return data.user_failure_data.description or "", data.error.cause if data.error else None


def _latest_stock_run(pipeline: Pipeline) -> str:
    [record] = pipeline.instance.fetch_materializations(
        AssetKey("stock"), limit=1, ascending=False
    ).records
    return record.run_id


@pytest.mark.parametrize("sandbox", [WRONG_PASSWORD], indirect=True)
@pytest.mark.parametrize(
    ("account", "variable"),
    [("default", "HAIER_SELLER_PASSWORD"), ("south", "SOUTH_HAIER_SELLER_PASSWORD")],
)
def test_an_unknown_refusal_code_stops_stock_early_naming_the_accounts_variable(
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    variable: str,
) -> None:
    if account == "south":
        south_account(pipeline, tmp_path, monkeypatch)
    first = run_catalog(pipeline)
    assert first.success
    monkeypatch.setenv(variable, "wrong-seller-password")

    failed = run_catalog(pipeline)  # one call at a time: the stop is exact

    stock_calls = pipeline.sandbox.stats()["calls"].get("stock", 0)
    # one worker keeps two calls submitted, so one more may already be on its way
    assert STOP_AFTER_REFUSALS <= stock_calls <= STOP_AFTER_REFUSALS + 1
    line, cause = _step_failure(failed)
    assert "\n" not in line and cause is None
    assert f"account {account}" in line
    assert f"{UNSEEN} 密码错误" in line
    assert re.findall(r"\b\w*SELLER_PASSWORD\b", line) == [variable]
    assert "stock table keeps its previous rows" in line
    assert _latest_stock_run(pipeline) == first.run_id
    assert sync_log(pipeline, failed.run_id)["stock"].status == "failed"


@pytest.mark.parametrize("sandbox", [{**WRONG_PASSWORD, "size": 120}], indirect=True)
def test_at_full_concurrency_the_stop_leaves_most_stock_calls_unmade(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "wrong-seller-password")
    failed = run_catalog(pipeline, workers=None)

    pairs = sync_log(pipeline, failed.run_id)["stock"].total
    workers = HaierApiResource.model_fields["max_workers"].default
    stock_calls = pipeline.sandbox.stats()["calls"]["stock"]
    # the calls already submitted when the third refusal came back, at most two per worker
    assert stock_calls <= STOP_AFTER_REFUSALS + 2 * workers < pairs
    assert f"{UNSEEN} 密码错误" in _step_failure(failed)[0]


@pytest.mark.parametrize("sandbox", [{"size": 40, "seed": 5}], indirect=True)
def test_a_known_code_names_the_one_setting_of_a_file_account(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    south_account(pipeline, tmp_path, monkeypatch)
    monkeypatch.setenv("SOUTH_HAIER_SELLER_PASSWORD", "wrong-seller-password")

    failed = run_catalog(pipeline)

    line, _ = _step_failure(failed)
    assert "account south" in line and "PASSWORD_WRONG" in line
    assert "fix SOUTH_HAIER_SELLER_PASSWORD:" in line
    assert not re.search(r"(?<![A-Z_])HAIER_", line)  # no variable south does not read


@pytest.mark.parametrize("sandbox", [WRONG_PASSWORD], indirect=True)
def test_an_unknown_code_on_products_names_every_setting_products_sends(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_PASSWORD", "wrong")
    failed = run_catalog(pipeline)

    line, cause = _step_failure(failed)
    assert cause is None and f"{UNSEEN} 密码错误" in line and "account default" in line
    for variable in ("HAIER_CUSTOMER_CODE", "HAIER_SEND_TO_CODE", "HAIER_SUPPLIER_CODE"):
        assert variable in line
    assert "HAIER_PASSWORD" in line and "HAIER_SELLER_PASSWORD" not in line


@pytest.mark.parametrize(
    "sandbox", [{**WRONG_PASSWORD, "refusal_message": "商品未在该区域销售"}], indirect=True
)
def test_identical_refusals_after_a_success_are_about_records_and_stop_nothing(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = [p.code for p in pipeline.sandbox.catalog.procurable if p.has_price][:10]
    monkeypatch.setenv("HAIER_PRODUCT_CODES", ",".join(codes))
    counties = len(pipeline.sandbox.env()["HAIER_COUNTY_CODES"].split(","))

    # The first product sells everywhere; every other is refused alike in every county.
    result = run_catalog(pipeline, FaultConfig(unsold_codes=frozenset(codes[1:])))

    assert result.success
    assert pipeline.sandbox.stats()["calls"]["stock"] == len(codes) * counties
    stock = sync_log(pipeline, result.run_id)["stock"]
    assert (stock.status, stock.success, stock.failed) == ("partial", counties, 9 * counties)


@pytest.mark.parametrize("account", ["default", "south"])
def test_an_unreachable_gateway_is_one_line_naming_the_url_setting(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    monkeypatch.setenv("HAIER_BASE_URL", "http://127.0.0.1:9")
    if account == "south":
        south_account(pipeline, tmp_path, monkeypatch, base_url="http://127.0.0.1:9")

    failed = pipeline.run("catalog_sync")

    line, cause = _step_failure(failed)
    assert cause is None
    assert line == (
        f"catalog_sync: account {account}: cannot connect to 127.0.0.1:9 (connection refused); "
        "check the account's base_url (or HAIER_BASE_URL), or whether the gateway is up."
    )
