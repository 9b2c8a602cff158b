"""check_connection against the sandbox: each credential ok, refused naming its variable, or
unreachable; and nothing written."""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path

import pytest
from dagster import ExecuteInProcessResult

from haier_pipeline.haier import connection as c
from haier_pipeline.haier.budget import budget_file
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.file_account import south_account

CREDENTIALS = [c.JSH_TOKEN, c.PASSWORD, c.SELLER_PASSWORD, c.CUSTOMER_PASSWORD, c.YLH_TOKEN]


def _table(result: ExecuteInProcessResult) -> dict[str, list[str]]:
    """credential -> the row's cells, from the run's metadata table."""
    events = [e for e in result.all_events if e.is_failure or e.event_type_value == "STEP_OUTPUT"]
    for event in events:
        data = event.event_specific_data
        metadata = getattr(getattr(data, "user_failure_data", None), "metadata", None)
        metadata = metadata or getattr(getattr(data, "metadata", None), "copy", dict)()
        if "credentials" in metadata:
            rows = metadata["credentials"].value.splitlines()[2:]
            cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
            return {row[0]: row for row in cells}
    raise AssertionError("no credentials table in the run's metadata")


def _failure(result: ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.user_failure_data.description


def test_every_credential_is_ok_and_nothing_is_written(pipeline: Pipeline) -> None:
    result = pipeline.run("check_connection")
    assert result.success
    table = _table(result)
    assert list(table) == CREDENTIALS
    assert {name: cells[1] for name, cells in table.items()} == dict.fromkeys(CREDENTIALS, "ok")
    assert not pipeline.duckdb_path.exists()
    served = pipeline.sandbox.stats()["calls"]
    assert served["products"] == served["stock"] == served["balance"] == 1
    assert served["store_logistics"] == 1 and served["jsh_token"] == served["ylh_token"] == 1


@pytest.mark.parametrize(
    ("variable", "row", "code"),
    [
        ("HAIER_SELLER_PASSWORD", c.SELLER_PASSWORD, "PASSWORD_WRONG"),
        ("HAIER_CUSTOMER_PASSWORD", c.CUSTOMER_PASSWORD, "PASSWORD_WRONG"),
        ("HAIER_PASSWORD", c.PASSWORD, "PASSWORD_WRONG"),
        ("YLH_PASSWORD", c.YLH_TOKEN, c.TOKEN_REFUSED),
    ],
)
def test_a_wrong_password_is_refused_naming_its_variable(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, variable: str, row: str, code: str
) -> None:
    if variable == "HAIER_PASSWORD":  # the others default to it; keep them right
        account = pipeline.sandbox.account
        monkeypatch.setenv("HAIER_SELLER_PASSWORD", account.seller_password)
        monkeypatch.setenv("HAIER_CUSTOMER_PASSWORD", account.customer_password)
    monkeypatch.setenv(variable, "wrong")
    result = pipeline.run("check_connection")

    assert not result.success
    line = _failure(result)
    assert "\n" not in line and "1 refused" in line and "fix " in line and variable in line
    table = _table(result)
    refused = [name for name, cells in table.items() if cells[1] == "refused"]
    assert refused == [row]
    assert table[row][2] == code


def test_a_wrong_client_secret_refuses_the_token_and_checks_nothing_else(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_CLIENT_SECRET", "wrong")
    result = pipeline.run("check_connection")
    line = _failure(result)
    assert c.JSH_TOKEN in line and "fix HAIER_CLIENT_ID and HAIER_CLIENT_SECRET" in line
    table = _table(result)
    assert table[c.JSH_TOKEN][1] == "refused"
    assert {table[name][1] for name in CREDENTIALS[1:4]} == {"not checked"}


def test_an_unreachable_gateway_is_reported_as_such(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HAIER_TIMEOUT_S", "0.5")
    result = pipeline.run("check_connection")
    table = _table(result)
    assert table[c.JSH_TOKEN][1] == "unreachable"
    assert "unreachable" in _failure(result)


UNSEEN = {"refusal_code": "E-7731", "refusal_message": "密码错误"}


@pytest.mark.parametrize("sandbox", [UNSEEN], indirect=True)
@pytest.mark.parametrize(
    ("account", "variable"),
    [("default", "HAIER_SELLER_PASSWORD"), ("south", "SOUTH_HAIER_SELLER_PASSWORD")],
)
def test_a_refusal_with_a_code_never_seen_fails_the_check_naming_the_variable(
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    variable: str,
) -> None:
    if account == "south":
        south_account(pipeline, tmp_path, monkeypatch)
    monkeypatch.setenv(variable, "wrong")
    result = pipeline.run("check_connection")

    assert not result.success
    line = _failure(result)
    prefix = "south: " if account == "south" else ""
    assert f"{prefix}{variable} (stock): refused (E-7731)" in line
    assert "\n" not in line and "1 refused" in line
    assert re.findall(r"\b\w*SELLER_PASSWORD\b", line) == [variable, variable]
    table = _table(result)
    refused = [name for name, cells in table.items() if cells[1] == "refused"]
    assert refused == [f"{prefix}{variable} (stock)"]
    assert table[refused[0]][2] == "E-7731"


def test_an_unreachable_gateway_fails_the_check_with_the_url_setting_to_check(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_BASE_URL", "http://127.0.0.1:9")
    result = pipeline.run("check_connection")

    assert not result.success
    line = _failure(result)
    assert (
        "cannot connect to 127.0.0.1:9 (connection refused); check the account's base_url "
        "(or HAIER_BASE_URL), or whether the gateway is up" in line
    )
    assert "HAIER_RATE_LIMIT" not in line and "Max retries" not in line
    table = _table(result)
    assert {table[name][1] for name in CREDENTIALS[1:4]} == {"not checked"}
    assert table[c.YLH_TOKEN][1] == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="planting as another user needs root (chown)")
def test_a_budget_folder_planted_by_another_user_stops_the_run_in_one_line(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The attack of issue 14: a 0777 folder of ``nobody`` with a link to a root-only file."""
    secret = tmp_path / "secret"
    secret.write_text("root's own data\n")
    secret.chmod(0o600)
    planted = tmp_path / "planted"
    planted.mkdir()
    planted.chmod(0o777)
    link = budget_file(planted, pipeline.sandbox.account.client_id)
    link.symlink_to(secret)
    nobody = pwd.getpwnam("nobody")
    os.chown(planted, nobody.pw_uid, nobody.pw_gid)
    os.lchown(link, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("HAIER_BUDGET_DIR", str(planted))
    result = pipeline.run("check_connection")
    assert not result.success
    line = _failure(result)
    assert "\n" not in line and "HAIER_BUDGET_DIR" in line and str(planted) in line
    assert secret.read_text() == "root's own data\n"
    assert pipeline.sandbox.stats()["total_calls"] == 0
