"""Fixtures shared across the suite: a sandbox on 127.0.0.1 and a pipeline pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from haier_pipeline.definitions import build_defs
from haier_pipeline.haier import budget
from haier_pipeline.sandbox import SandboxServer

PIPELINE_RATE_LIMIT = 1000.0
"""The pipeline's rate in tests (the sandbox there is unlimited; keep the suite fast). A test's
own client on the same client_id must use it too: a call budget keeps one rate."""


@dataclass
class Pipeline:
    """The pipeline's environment in a test: its sandbox, DuckDB path and Dagster instance."""

    sandbox: SandboxServer
    duckdb_path: Path
    instance: DagsterInstance

    def run(self, job: str, **kwargs: object) -> ExecuteInProcessResult:
        """Run a job as Dagster would, with definitions built from the current environment."""
        definition = build_defs().resolve_job_def(job)
        return definition.execute_in_process(instance=self.instance, raise_on_error=False, **kwargs)

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


@pytest.fixture(autouse=True, scope="session")
def _session_call_budgets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """This session's call budgets (HAIER_BUDGET_DIR), for what session fixtures start.

    Every sandbox has the same client_ids, so test runs in parallel on one machine would
    otherwise pace each other through the shared budget files.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAIER_BUDGET_DIR", str(tmp_path_factory.mktemp("budget")))
        yield


@pytest.fixture(autouse=True)
def _own_call_budgets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """This test's call budgets, also for the processes it starts: a budget file keeps one
    rate, and tests use many. The budgets this test opened are closed after it, so a long
    run does not collect open files."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAIER_BUDGET_DIR", str(tmp_path_factory.mktemp("budget")))
        yield
    with budget._REGISTRY_LOCK:
        for opened in budget._REGISTRY.values():
            opened.close()
        budget._REGISTRY.clear()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A small sandbox; ``@pytest.mark.parametrize('sandbox', [{...}], indirect=True)`` tunes it."""
    options = {"size": 120, "seed": 7, "rate_limit": None, **getattr(request, "param", {})}
    with SandboxServer(**options) as server:
        yield server


@pytest.fixture
def pipeline(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    duckdb_path = tmp_path / "data" / "haier.duckdb"
    env = sandbox.env(
        HAIER_DUCKDB_PATH=str(duckdb_path),
        HAIER_ORDER_INBOX=str(tmp_path / "data" / "orders" / "inbox"),
        HAIER_ORDER_SETTLE_S="0",  # tests drop whole files and run at once; 10 s would be idle
        HAIER_ORDER_SET_ASIDE_MIN="0",  # a broken file in a test is broken, not half written
        HAIER_CALLBACK_SPOOL=str(tmp_path / "data" / "callbacks"),
        HAIER_RATE_LIMIT=f"{PIPELINE_RATE_LIMIT:g}",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        yield Pipeline(sandbox, duckdb_path, instance)
