"""The Definitions load, and configuration mistakes stop a run with one clear line."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from haier_pipeline.definitions import build_defs
from haier_pipeline_tests.dagster_defs.failures import failure_text

PLACEHOLDER_ENV = {
    "HAIER_BASE_URL": "http://127.0.0.1:9",
    "HAIER_CLIENT_ID": "id",
    "HAIER_CLIENT_SECRET": "secret",
    "HAIER_CUSTOMER_CODE": "8800633175",
    "HAIER_PASSWORD": "a-password",
    "HAIER_COUNTY_CODES": "110101",
}


def test_every_definition_loads_with_placeholder_environment(monkeypatch, tmp_path) -> None:
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(tmp_path / "haier.duckdb"))
    defs = build_defs()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    assert {"catalog_sync", "push_orders", "balance_snapshot"} <= set(jobs)
    selected = jobs["catalog_sync"].asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in selected} == {"products", "prices", "stock"}
    assert defs.resolve_schedule_def("catalog_sync_daily").execution_timezone == "Asia/Shanghai"


def test_the_ui_shows_variable_names_not_secret_values(monkeypatch, tmp_path) -> None:
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_CLIENT_SECRET", "s3cr3t-value")
    defs = build_defs()
    haier = defs.resources["haier"]
    assert "s3cr3t-value" not in repr(haier.__dict__)
    assert "HAIER_CLIENT_SECRET" in repr(haier.__dict__)


@pytest.mark.parametrize("missing", ["HAIER_CLIENT_SECRET", "HAIER_COUNTY_CODES"])
def test_a_missing_required_variable_fails_the_run_naming_it(
    monkeypatch, tmp_path, missing
) -> None:
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(tmp_path / "haier.duckdb"))
    job = build_defs().resolve_job_def("catalog_sync")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    messages = failure_text(result)
    assert f"missing required environment variable(s): {missing}" in messages
    assert not (tmp_path / "haier.duckdb").exists()


def test_a_malformed_county_code_is_named(monkeypatch, tmp_path) -> None:
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_COUNTY_CODES", "110101,11010")
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(tmp_path / "haier.duckdb"))
    job = build_defs().resolve_job_def("catalog_sync")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failures = failure_text(result)
    assert "HAIER_COUNTY_CODES='110101,11010' holds '11010', not a 6-digit county code" in failures


def test_every_job_and_materialize_all_run_in_process(monkeypatch, tmp_path) -> None:
    """ "Materialize all" runs Dagster's implicit asset job: the code location's executor."""
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    defs = build_defs()
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def.name == "in_process"
    assert {job.executor_def.name for job in defs.resolve_all_job_defs()} == {"in_process"}
