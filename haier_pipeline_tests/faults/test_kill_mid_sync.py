"""kill -9 in the middle of catalog_sync, then the next run: what is left, and what recovers.

The killed run is a real ``dagster job execute`` process, killed with SIGKILL at three points
picked by watching the sandbox's counters and the data folder: while prices are fetched,
while stock is, and inside the final publish. The sandbox is slowed down (latency, and a
client rate limit) so the sync lasts several seconds and each point is hit.

A dead run is recognised by its claim (``Warehouse.run_claim``), a file lock the kernel drops
with the process: Dagster itself keeps a killed run STARTED, and does not know runs of another
instance at all. The quick test checks the other side: a claimed run is never taken for dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus

from haier_pipeline.sandbox import FaultConfig, SandboxServer
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.faults.harness import (
    expected_catalog,
    loaded_catalog,
    run_catalog,
    run_status,
    snapshot,
    sync_log,
)

BIN = Path(sys.executable).parent
KILL_SANDBOX = {"size": 120, "seed": 7}  # 111 procurable products, 333 stock calls
SLOW = FaultConfig(latency_s=0.3)
SLOW_RATE = "60"  # calls per second: the stock phase alone lasts about 5.5 s
START_TIMEOUT_S = 120.0

Stats = dict[str, Any]
KillPoint = Callable[[Stats, int, Path], bool]  # sandbox stats, stock calls, the data folder


class _AtPublish:
    """Inside the final publish: while its temporary copy exists, or right after the swap.

    The copy lives for a few milliseconds, so the point also holds once the published file
    was replaced after the last stock answer: the kill then lands just after the publish.
    """

    def __init__(self) -> None:
        self._inode: int | None = None

    def __call__(self, stats: Stats, stock_calls: int, folder: Path) -> bool:
        if stats["served"].get("stock", 0) < stock_calls:
            return False
        if any(folder.glob(".*.tmp")):
            return True
        inode = (folder / "haier.duckdb").stat().st_ino
        self._inode = self._inode or inode
        return inode != self._inode


def _during_prices(stats: Stats, *_: object) -> bool:
    return stats["calls"].get("prices", 0) > 0


def _during_stock(stats: Stats, *_: object) -> bool:
    return stats["served"].get("stock", 0) >= 50


def _kill_points() -> dict[str, KillPoint]:
    """Fresh each time: the publish point remembers the file it saw."""
    return {
        "during-prices": _during_prices,
        "during-stock": _during_stock,
        "at-publish": _AtPublish(),
    }


def _dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


def _kill_sync_at(
    sandbox: SandboxServer, folder: Path, home: Path, log: Path, point: KillPoint
) -> Stats:
    """Start catalog_sync in its own process, SIGKILL it when ``point`` holds; the stats then."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "HAIER_RATE_LIMIT": SLOW_RATE}
    env["HAIER_BUDGET_DIR"] = str(home.parent / "budget-slow")  # its rate's own budget file
    stock_calls = len(sandbox.catalog.procurable) * len(env["HAIER_COUNTY_CODES"].split(","))
    sandbox.faults = SLOW
    sandbox.reset_stats()
    with log.open("w") as out:
        process = subprocess.Popen(
            [BIN / "dagster", "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: helpers it spawns die with it
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not point(stats := sandbox.stats(), stock_calls, folder):
            assert process.poll() is None, f"the sync ended before the kill:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the kill point was never reached"
            time.sleep(0.001)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    sandbox.faults = FaultConfig()
    return stats


def _run_ids(pipeline: Pipeline) -> set[str]:
    return {run for (run,) in pipeline.rows("SELECT DISTINCT run_id FROM sync_log")}


def _leftovers(pipeline: Pipeline) -> list[str]:
    """Files beside the published one that only a crashed run leaves (staging, temp copies)."""
    folder = pipeline.duckdb_path.parent
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and (path.parent.name == ".staging" or path.name.endswith(".tmp"))
    )


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", [KILL_SANDBOX], indirect=True)
def test_a_sync_killed_at_any_point_is_closed_by_the_next_run(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The user sees: after the kill, the previous catalog still published and the killed
    run's sync_log rows 'processing'; after the next run (Dagster SUCCESS) those rows are
    'failed' with "interrupted: run <id> ended without closing this sync", none is left
    'processing', and the tables are whole."""
    sandbox = pipeline.sandbox
    counties = os.environ["HAIER_COUNTY_CODES"].split(",")
    expected = expected_catalog(sandbox.catalog, counties)
    assert run_catalog(pipeline, workers=None).success

    for name, point in _kill_points().items():
        before, known = snapshot(pipeline.rows), _run_ids(pipeline)
        home = _dagster_home(tmp_path / f"killed-{name}")  # not the instance of the next run
        _kill_sync_at(sandbox, pipeline.duckdb_path.parent, home, tmp_path / f"{name}.log", point)

        killed = _run_ids(pipeline) - known
        assert len(killed) == 1, name
        (killed_run,) = killed
        left_open = sync_log(pipeline, killed_run)
        published = snapshot(pipeline.rows)  # the published file opens, read-only
        if {row.status for row in left_open.values()} == {"success"}:
            assert name == "at-publish"  # the kill came after the atomic publish
            assert loaded_catalog(pipeline.rows) == expected
        else:
            assert [row.status for row in left_open.values()] == ["processing"] * 3, name
            assert published == before, name  # the previous catalog, synced_at included

        result = run_catalog(pipeline, workers=None)

        assert run_status(pipeline, result.run_id) == DagsterRunStatus.SUCCESS, name
        interrupted = ("failed", f"interrupted: run {killed_run} ended without closing this sync")
        for sync_type, row in sync_log(pipeline, killed_run).items():
            if left_open[sync_type].status == "processing":
                # Killed after its commit but before the copy replaced the published file,
                # the run's rows are 'success' in the working file, which the next run
                # publishes: true, its catalog was complete.
                committed = name == "at-publish" and row.status == "success"
                assert (row.status, row.message) == interrupted or committed, (name, row)
        assert pipeline.rows("SELECT count(*) FROM sync_log WHERE status = 'processing'") == [(0,)]
        assert {r.status for r in sync_log(pipeline, result.run_id).values()} == {"success"}
        assert loaded_catalog(pipeline.rows) == expected, name
        assert _leftovers(pipeline) == [], name


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", [KILL_SANDBOX], indirect=True)
def test_a_killed_run_stuck_started_in_the_same_instance_is_closed_by_the_next_run(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The user sees: the killed run stays 'Started' in the Dagster UI (nothing tells Dagster
    the process died), yet the next catalog_sync on that instance closes its sync_log rows as
    'failed' ("interrupted: ...") instead of taking them for a sync still running."""
    assert run_catalog(pipeline, workers=None).success
    known = _run_ids(pipeline)
    home = _dagster_home(Path(pipeline.instance.root_directory))
    folder = pipeline.duckdb_path.parent
    _kill_sync_at(pipeline.sandbox, folder, home, tmp_path / "killed.log", _during_stock)
    (killed_run,) = _run_ids(pipeline) - known
    assert run_status(pipeline, killed_run) == DagsterRunStatus.STARTED
    assert {row.status for row in sync_log(pipeline, killed_run).values()} == {"processing"}

    result = run_catalog(pipeline, workers=None)

    assert run_status(pipeline, result.run_id) == DagsterRunStatus.SUCCESS
    interrupted = f"interrupted: run {killed_run} ended without closing this sync"
    closed = sync_log(pipeline, killed_run).values()
    assert [(row.status, row.message) for row in closed] == [("failed", interrupted)] * 3
    assert _leftovers(pipeline) == []
    assert run_status(pipeline, killed_run) == DagsterRunStatus.STARTED  # Dagster never knows


@pytest.mark.parametrize("sandbox", [{"size": 24, "seed": 7}], indirect=True)
def test_a_sync_alive_in_another_dagster_instance_is_left_alone_until_it_dies(
    pipeline: Pipeline,
) -> None:
    """The user sees: a catalog_sync started while another one runs (launched from another
    Dagster instance, so unknown to this one) leaves that run's 'processing' rows and staging
    file alone; once that process is gone, the next run closes them as 'interrupted'."""
    warehouse = Warehouse(pipeline.duckdb_path)
    other = "run-of-another-dagster-instance"
    with warehouse.run_claim(other):  # held as that live process would hold it
        warehouse.start_sync(other, "products")
        staged = warehouse.staging_path(other)
        staged.write_bytes(b"staged rows")

        assert run_catalog(pipeline).success

        assert [r.status for r in sync_log(pipeline, other).values()] == ["processing"]
        assert staged.read_bytes() == b"staged rows"

    assert run_catalog(pipeline).success  # the claim is free now: that process is gone

    (row,) = sync_log(pipeline, other).values()
    assert (row.status, row.message) == (
        "failed",
        f"interrupted: run {other} ended without closing this sync",
    )
    assert _leftovers(pipeline) == []
