"""Dagster's production topology on this machine: the instance of ``deploy/dagster.yaml`` on a
private PostgreSQL, with ``dagster code-server start``, ``dagster-daemon run`` and
``dagster-webserver`` as separate processes on free loopback ports.

The processes get what they get in ``deploy/compose.yaml``: the code server (which starts the
runs and evaluates the sensors) the pipeline's settings and secrets; the daemon and the
webserver only the instance's variables. The code server runs from a folder of its own, so a
relative path setting that followed the working folder would land somewhere else.

:func:`start_topology` is a context manager so that other suites (alerts at a loopback
webhook after a failing run) can bring up the same topology with their own settings.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from haier_pipeline_tests.postgres import PostgresCluster, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "haier_pipeline"
REPOSITORY = "__repository__"
START_TIMEOUT_S = 180.0
"""Three Dagster processes importing Dagster on a shared 2-core machine: honest margin."""

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  }
}
"""
RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status startTime endTime jobName tags { key value } }
  }
}
"""
RUNS = """
query Runs($limit: Int) {
  runsOrError(limit: $limit) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""
LOCATION_STATUS = """
query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class RunRecord:
    """One run as the webserver reports it; times are tz-aware (UTC)."""

    run_id: str
    status: str
    job: str
    tags: dict[str, str]
    started: datetime | None
    ended: datetime | None

    def overlaps(self, other: RunRecord) -> bool:
        assert self.started and self.ended and other.started and other.ended
        return self.started < other.ended and other.started < self.ended


@dataclass
class Topology:
    """A running instance: its home, its webserver, the code server's environment, its logs."""

    home: Path
    webserver_url: str
    code_port: int
    instance_env: dict[str, str]
    code_env: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.webserver_url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def launch(
        self,
        job: str,
        tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
    ) -> str:
        """Launch a run through the queue, as the UI's Launch button does; returns its id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": job,
            },
            "runConfigData": dict(run_config or {}),
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
        result = self.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", (result, self.log_tails())
        run_id: str = result["run"]["runId"]
        return run_id

    def run(self, run_id: str) -> RunRecord:
        data = self.graphql(RUN, {"runId": run_id})["runOrError"]
        assert data["__typename"] == "Run", data
        return _record(data)

    def runs(self, limit: int = 50) -> list[RunRecord]:
        results = self.graphql(RUNS, {"limit": limit})["runsOrError"]["results"]
        return [self.run(r["runId"]) for r in results]

    def wait(self, run_ids: list[str], timeout_s: float = 300.0) -> list[RunRecord]:
        """The runs once every one has ended; fails with the process logs after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            records = [self.run(run_id) for run_id in run_ids]
            if all(r.status in DONE for r in records):
                return records
            assert time.monotonic() < deadline, (records, self.log_tails())
            time.sleep(1.0)

    def log_tails(self, chars: int = 3000) -> dict[str, str]:
        return {name: path.read_text(errors="replace")[-chars:] for name, path in self.logs.items()}


def _record(data: Mapping[str, Any]) -> RunRecord:
    def when(value: float | None) -> datetime | None:
        return datetime.fromtimestamp(value, UTC) if value else None

    return RunRecord(
        run_id=data["runId"],
        status=data["status"],
        job=data["jobName"],
        tags={t["key"]: t["value"] for t in data["tags"]},
        started=when(data["startTime"]),
        ended=when(data["endTime"]),
    )


def instance_home(folder: Path) -> Path:
    """A DAGSTER_HOME holding the shipped production instance and gRPC workspace."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", folder / "dagster.yaml")
    shutil.copy(REPO / "deploy" / "workspace.yaml", folder / "workspace.yaml")
    return folder


def _base_env() -> dict[str, str]:
    """This process's environment without any pipeline setting: each role adds its own."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HAIER_", "YLH_", "DAGSTER_", "NORTH_", "SOUTH_"))
    }


@contextmanager
def _process(name: str, command: list[str], env: dict[str, str], cwd: Path, logs: dict[str, Path]):  # type: ignore[no-untyped-def]
    """A process in its own session (so its run workers stop with it), logging to a file."""
    log = cwd / f"{name}.log"
    logs[name] = log
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    # Run workers the code server started live in its session; none may outlive the test.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_until_ready(topology: Topology, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        for name, process in processes.items():
            assert process.poll() is None, (f"{name} exited", topology.log_tails())
        try:
            entries = topology.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
            loaded = [e for e in entries if e["name"] == LOCATION]
            if loaded and loaded[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, ("the topology did not come up", topology.log_tails())
        time.sleep(1.0)


@contextmanager
def start_topology(
    cluster: PostgresCluster, folder: Path, code_env: Mapping[str, str], database: str
) -> Iterator[Topology]:
    """Bring up code server, daemon and webserver on a fresh database ``database``."""
    cluster.create_database(database)
    home = instance_home(folder / "dagster_home")
    code_port, web_port = free_port(), free_port()
    instance_env = {
        **_base_env(),
        **cluster.env(),
        "DAGSTER_PG_DB": database,
        "DAGSTER_HOME": str(home),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
    }
    code_cwd = folder / "code-server-cwd"
    code_cwd.mkdir()
    topology = Topology(
        home,
        f"http://127.0.0.1:{web_port}",
        code_port,
        instance_env,
        {**instance_env, **code_env},
    )
    code = [str(BIN / "dagster"), "code-server", "start", "-m", "haier_pipeline",
            "-h", "127.0.0.1", "-p", str(code_port), "--location-name", LOCATION]  # fmt: skip
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")]
    web = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
           "-w", str(home / "workspace.yaml")]  # fmt: skip
    with ExitStack() as stack:
        processes = {
            "code-server": stack.enter_context(
                _process("code-server", code, topology.code_env, code_cwd, topology.logs)
            ),
            "webserver": stack.enter_context(
                _process("webserver", web, instance_env, home, topology.logs)
            ),
        }
        _wait_until_ready(topology, processes)
        processes["daemon"] = stack.enter_context(
            _process("daemon", daemon, instance_env, home, topology.logs)
        )
        yield topology
