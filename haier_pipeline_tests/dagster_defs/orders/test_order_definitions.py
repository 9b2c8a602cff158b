"""The order jobs, schedules and sensors load, and the shipped dagster.yaml limits their pool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance

from haier_pipeline.definitions import build_defs
from haier_pipeline_tests.dagster_defs.failures import failure_text
from haier_pipeline_tests.dagster_defs.test_definitions import PLACEHOLDER_ENV

SHIPPED_YAML = Path(__file__).parents[3] / "dagster_home" / "dagster.yaml"
ORDER_JOBS = (
    "push_orders",
    "track_logistics",
    "apply_callbacks",
    "cancel_order",
    "reschedule_order",
    "balance_snapshot",
)


@pytest.fixture
def placeholder_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in PLACEHOLDER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(tmp_path / "haier.duckdb"))
    monkeypatch.setenv("HAIER_ORDER_INBOX", str(tmp_path / "inbox"))


@pytest.mark.usefixtures("placeholder_env")
def test_order_jobs_schedules_and_sensors_load() -> None:
    defs = build_defs()
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert set(ORDER_JOBS) <= jobs
    for name in ("push_orders_every_15_min", "track_logistics_hourly", "balance_snapshot_daily"):
        assert defs.resolve_schedule_def(name).execution_timezone == "Asia/Shanghai"
    assert defs.resolve_sensor_def("order_inbox_sensor").job_name == "push_orders"
    assert defs.resolve_sensor_def("callback_spool_sensor").job_name == "apply_callbacks"
    for job, op in (
        ("push_orders", "push_pending_orders"),
        ("apply_callbacks", "apply_spooled_callbacks"),
    ):
        definition = defs.resolve_job_def(job)
        assert definition.graph.node_named(op).definition.pool == "haier_orders"
        assert definition.tags["dagster/max_runtime"] == "3600"


def test_the_shipped_dagster_yaml_gives_every_pool_one_slot(tmp_path: Path) -> None:
    shutil.copy(SHIPPED_YAML, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60


@pytest.mark.usefixtures("placeholder_env")
def test_push_orders_without_ylh_credentials_stops_naming_them(tmp_path: Path) -> None:
    job = build_defs().resolve_job_def("push_orders")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failures = failure_text(result)
    assert "missing required environment variable(s): YLH_BASE_URL, YLH_AUTH_URL" in failures
    assert not (tmp_path / "inbox").exists()
