"""deploy/dagster.yaml as an instance on a private PostgreSQL, and the fact behind its
``scheme: postgresql+psycopg2``: with SQLAlchemy 2.1 a bare ``postgresql://`` fails."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from haier_pipeline_tests.deploy.topology import instance_home
from haier_pipeline_tests.postgres import PostgresCluster

pytestmark = pytest.mark.deploy


@pytest.fixture
def pg_env(postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> PostgresCluster:
    database = f"dagster_{uuid.uuid4().hex[:12]}"
    postgres.create_database(database)
    for name, value in {**postgres.env(), "DAGSTER_PG_DB": database}.items():
        monkeypatch.setenv(name, value)
    return postgres


def test_the_shipped_instance_stores_runs_in_postgres_with_the_queue_rules(
    pg_env: PostgresCluster, tmp_path: Path
) -> None:
    home = instance_home(tmp_path / "home")
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert instance.get_runs_count() == 0
        assert instance.get_run_records() == []
    assert {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits
    assert instance.run_monitoring_enabled


def test_postgresql_without_psycopg2_in_the_scheme_fails(
    pg_env: PostgresCluster, tmp_path: Path
) -> None:
    home = instance_home(tmp_path / "home")
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    del config["storage"]["postgres"]["postgres_db"]["scheme"]  # Dagster's default: postgresql
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with (
        pytest.raises(ModuleNotFoundError, match="psycopg"),
        DagsterInstance.from_config(str(home)) as instance,
    ):
        instance.get_runs_count()
