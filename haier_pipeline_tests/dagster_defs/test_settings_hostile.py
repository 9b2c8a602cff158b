"""Odd and hostile settings stop a run at start with one line naming the variable.

Each case runs catalog_sync through Dagster against the sandbox and checks three things: the
run failed, the failure reads as one line naming the variable, and nothing reached Haier or
the analysts' file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_lines


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HAIER_COUNTY_CODES", ",,,", "HAIER_COUNTY_CODES=',,,' lists no code"),
        ("HAIER_COUNTY_CODES", " , ", "HAIER_COUNTY_CODES"),
        ("HAIER_TIMEOUT_S", "nan", "HAIER_TIMEOUT_S='nan' is not a number of seconds"),
        ("HAIER_TIMEOUT_S", "inf", "HAIER_TIMEOUT_S='inf' is not a number of seconds"),
        ("HAIER_TIMEOUT_S", "-1", "HAIER_TIMEOUT_S='-1' is not a number of seconds"),
        ("HAIER_RATE_LIMIT", "1e9", "HAIER_RATE_LIMIT='1e9' is not a number of calls per second"),
        ("HAIER_RATE_LIMIT", "NaN", "HAIER_RATE_LIMIT='NaN' is not a number of calls per second"),
        ("HAIER_RATE_LIMIT", "0", "HAIER_RATE_LIMIT='0' is not a number of calls per second"),
        ("HAIER_BASE_URL", "ftp://example", "HAIER_BASE_URL=(value not shown: a URL may"),
    ],
)
def test_an_unusable_setting_stops_the_run_before_any_call(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = pipeline.run("catalog_sync")
    assert not result.success
    lines = failure_lines(result)
    assert any(expected in line for line in lines), lines
    assert all("\n" not in line for line in lines if expected in line)
    assert pipeline.sandbox.stats()["total_calls"] == 0
    assert not pipeline.duckdb_path.exists()


def test_a_secret_in_a_url_query_string_reaches_no_log_file_or_table(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "qs-secret-7f3a9c"
    # A port nothing listens on: every attempt fails and its URL lands in error messages.
    monkeypatch.setenv("HAIER_TOKEN_URL", f"http://127.0.0.1:9/oauth2/auth?client_secret={secret}")
    monkeypatch.setenv("HAIER_TIMEOUT_S", "1")
    result = pipeline.run("catalog_sync")
    assert not result.success

    home = Path(pipeline.instance.root_directory)
    for folder in (home, pipeline.duckdb_path.parent):
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    records = pipeline.instance.all_logs(result.run_id)
    assert secret not in json.dumps([str(r) for r in records])
    assert secret not in pipeline.rows("SELECT string_agg(message, ' ') FROM sync_log")[0][0]
    out, err = capfd.readouterr()
    assert secret not in out + err


def test_a_password_in_a_url_user_info_is_masked_too(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "userinfo-pass-51d2"
    monkeypatch.setenv("HAIER_BASE_URL", f"http://shop:{secret}@127.0.0.1:9")
    monkeypatch.setenv("HAIER_TIMEOUT_S", "1")
    result = pipeline.run("catalog_sync")
    assert not result.success
    records = pipeline.instance.all_logs(result.run_id)
    assert secret not in json.dumps([str(r) for r in records])
    out, err = capfd.readouterr()
    assert secret not in out + err
