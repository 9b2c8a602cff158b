"""The secrets sweep (issue 15): every job, three failures, no secret anywhere it could land.

The full sweep runs each job as users do, ``dagster job execute -m haier_pipeline -j JOB``
in its own process with its own DAGSTER_HOME, so stdout, stderr, the event log and the
compute logs are the real ones: fifteen processes, so it is marked ``slow``. The default
run keeps a fast subset in process: balance_snapshot (JSH, JSON bodies) with every failure,
and push_orders (YLH's form-encoded token request too) against the echoing gateway.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from haier_pipeline.definitions import build_defs
from haier_pipeline_tests.dagster_defs.secrets_sweep import (
    JOBS,
    KINDS,
    EchoGateway,
    job_env,
    leaks,
    leaks_in_files,
    seed,
)

BIN = Path(sys.executable).parent


@pytest.fixture
def gateway() -> Iterator[EchoGateway]:
    with EchoGateway().running() as running:
        yield running


def _check_gateway_was_reached(kind: str, job: str, gateway: EchoGateway) -> None:
    """The echo failure is only a test if the job's calls reached the echoing gateway."""
    if kind == "echo":
        assert gateway.requests, f"{job} made no call to the echoing gateway"


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("job", JOBS)
def test_no_secret_leaves_a_job_run_as_a_process(
    job: str, kind: str, tmp_path: Path, gateway: EchoGateway
) -> None:
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    seed(data)
    env = job_env(kind, data, gateway.url) | {"DAGSTER_HOME": str(home)}
    done = subprocess.run(
        [BIN / "dagster", "job", "execute", "-m", "haier_pipeline", "-j", job],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "RUN_START" in done.stdout + done.stderr or done.returncode != 0
    assert leaks(done.stdout) == [], done.stdout[-3000:]
    assert leaks(done.stderr) == [], done.stderr[-3000:]
    assert leaks_in_files(home, data) == {}
    _check_gateway_was_reached(kind, job, gateway)


@pytest.mark.parametrize(
    ("job", "kind"),
    [*(("balance_snapshot", kind) for kind in KINDS), ("push_orders", "echo")],
)
def test_no_secret_leaves_a_job_run_in_process(
    job: str,
    kind: str,
    tmp_path: Path,
    gateway: EchoGateway,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    seed(data)
    for name, value in job_env(kind, data, gateway.url).items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.local_temp(str(home)) as instance:
        definition = build_defs().resolve_job_def(job)
        result = definition.execute_in_process(instance=instance, raise_on_error=False)
        records = instance.all_logs(result.run_id)
    assert not result.success
    assert leaks(" ".join(str(record) for record in records)) == []
    out, err = capfd.readouterr()
    assert leaks(out) == [] and leaks(err) == []
    assert leaks_in_files(home, data) == {}
    _check_gateway_was_reached(kind, job, gateway)
