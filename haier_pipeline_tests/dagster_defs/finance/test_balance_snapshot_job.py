"""balance_snapshot: the account_balance asset appends snapshots; its check warns when short."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dagster import AssetCheckSeverity, ExecuteInProcessResult

from haier_pipeline.haier.jsh import JshClient
from haier_pipeline_tests.conftest import PIPELINE_RATE_LIMIT, Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_text
from haier_pipeline_tests.dagster_defs.order_helpers import inbox, stocked_codes
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file


def _sandbox_balances(pipeline: Pipeline) -> dict[str, Decimal]:
    with JshClient(pipeline.sandbox.jsh_settings(rate_limit=PIPELINE_RATE_LIMIT)) as jsh:
        return {record.sale_group_code: record.balance for record in jsh.balance().records}


def _check(result: ExecuteInProcessResult) -> tuple[bool, AssetCheckSeverity, str]:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation.passed, evaluation.severity, evaluation.description or ""


def test_each_run_appends_one_snapshot_and_one_sync_log_row(pipeline: Pipeline) -> None:
    expected = _sandbox_balances(pipeline)
    first = pipeline.run("balance_snapshot")
    second = pipeline.run("balance_snapshot")
    assert first.success and second.success

    rows = pipeline.rows(
        "SELECT sale_group_code, balance, count(*) OVER (PARTITION BY fetched_at) "
        "FROM account_balance ORDER BY fetched_at, sale_group_code"
    )
    assert len(rows) == 2 * len(expected)
    assert {(code, balance) for code, balance, _ in rows} == set(expected.items())
    assert all(isinstance(balance, Decimal) for _, balance, _ in rows)
    assert {per_snapshot for *_, per_snapshot in rows} == {len(expected)}
    assert pipeline.rows(
        "SELECT run_id, status, success_count FROM sync_log WHERE sync_type = 'balance' ORDER BY id"
    ) == [(first.run_id, "success", len(expected)), (second.run_id, "success", len(expected))]
    assert _check(first)[0] is (min(expected.values()) >= 0)


def test_the_check_warns_below_haier_balance_min(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    highest = max(_sandbox_balances(pipeline).values())
    monkeypatch.setenv("HAIER_BALANCE_MIN", str(highest + 1))
    result = pipeline.run("balance_snapshot")
    assert result.success  # a WARN check informs, it does not fail the run
    passed, severity, description = _check(result)
    assert (passed, severity) == (False, AssetCheckSeverity.WARN)
    assert f"is below HAIER_BALANCE_MIN {highest + 1}" in description


@pytest.mark.usefixtures("seeded_catalog")
def test_the_check_warns_when_pushed_unconfirmed_orders_exceed_the_balance(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_BALANCE_MIN", "-100000000")
    total = sum(_sandbox_balances(pipeline).values(), Decimal(0))
    [code] = stocked_codes(pipeline.sandbox, 1)
    price = f"{total + 1:.2f}"
    write_order_file(inbox(), make_order_dict("SO-BIG", ((code, 1, price),)))
    assert pipeline.run("push_orders").success

    passed, _, description = _check(pipeline.run("balance_snapshot"))
    assert not passed
    assert f"is below {price}, the total_amt of orders pushed and not yet confirmed" in description


def test_a_malformed_minimum_is_named(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAIER_BALANCE_MIN", "lots")
    result = pipeline.run("balance_snapshot")
    assert not result.success
    failures = failure_text(result)
    assert "HAIER_BALANCE_MIN='lots' is not an amount in yuan" in failures


def test_a_wrong_customer_password_names_its_variable(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_CUSTOMER_PASSWORD", "wrong")
    result = pipeline.run("balance_snapshot")
    assert not result.success
    [failure] = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert failure.user_failure_data is not None
    description = failure.user_failure_data.description or ""
    assert "PASSWORD_WRONG" in description and "fix HAIER_CUSTOMER_PASSWORD" in description
    assert failure.error is not None and failure.error.cause is None
