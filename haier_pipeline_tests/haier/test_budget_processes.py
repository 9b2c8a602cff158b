"""The call budget across real processes: one budget per client_id, orders first, crash-proof.

Each worker is its own Python process (``budget_worker``) calling a sandbox on 127.0.0.1, so
the budget is shared the way Dagster runs share it. Assertions count calls per window at the
sandbox, or compare the order of calls by CLOCK_MONOTONIC (one clock for every process), with
margins wide enough for a loaded 2-core machine; how fast is measured in benchmarks/.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.haier.budget import budget_dir, budget_file
from haier_pipeline.haier.budget_store import FILE_SIZE
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.auth import SandboxAccount

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # a worker that does not finish by then has hung: fail, never hang the suite


class Worker:
    """One budget_worker process; its output lines are read as it goes."""

    def __init__(self, job: dict[str, Any], on: Callable[[list[str]], list[str]] = list) -> None:
        """``on`` wraps the command, e.g. ``machines.Machine(...).command`` (another machine).
        Its stderr goes to a file, read by :meth:`stderr`."""
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the worker)
        self.process = subprocess.Popen(
            on([sys.executable, "-m", "haier_pipeline_tests.haier.budget_worker"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            cwd=ROOT,
            env=os.environ,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job))
        self.process.stdin.close()
        self.process.stdin = None  # communicate() must not flush it again
        self.lines: list[str] = []

    def wait_started(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "started":
                return
            self.lines.append(line)
        raise AssertionError(f"the worker exited with {self.process.wait()} before starting")

    def finish(self) -> list[tuple[float, float]]:
        """Wait for the end; (start, end) of every call it made, in order of ending."""
        output = self._rest()
        code = self.process.returncode
        assert code == 0, f"worker exited with {code}: {self.stderr()}"
        return self._calls(output)

    def refused(self) -> tuple[int, str]:
        """Wait for the end of a worker expected to fail: its exit code and its stderr."""
        self._rest()
        return self.process.returncode, self.stderr()

    def stderr(self) -> str:
        """What the worker wrote to stderr ("" for a subclass that keeps its stderr)."""
        errors = getattr(self, "errors", None)
        if errors is None:
            return ""
        errors.seek(0)
        return str(errors.read())

    def kill(self) -> list[tuple[float, float]]:
        """kill -9; the calls it had finished by then."""
        self.process.kill()
        return self._calls(self._rest())

    def _rest(self) -> str:
        """The rest of its output, once it ended (within WAIT_S).

        Read through the same buffered file as wait_started: communicate() with a timeout
        reads the raw descriptor and would lose the lines already buffered."""
        assert self.process.stdout is not None
        stdout, rest = self.process.stdout, []
        reader = threading.Thread(target=lambda: rest.append(stdout.read()), daemon=True)
        reader.start()
        reader.join(WAIT_S)
        assert not reader.is_alive(), f"the worker did not end within {WAIT_S} s"
        self.process.wait(timeout=WAIT_S)
        return str(rest[0])

    def _calls(self, output: str) -> list[tuple[float, float]]:
        lines = [*self.lines, *output.splitlines()]
        pairs = [line.split() for line in lines if line.strip() and line.strip() != "started"]
        return [(float(start), float(end)) for start, end in pairs]


def calls_job(
    sandbox: SandboxServer,
    calls: int,
    threads: int,
    priority: str = "bulk",
    rate_limit: float | None = None,
) -> dict[str, Any]:
    settings = dataclasses.asdict(sandbox.jsh_settings())
    if rate_limit is not None:
        settings["rate_limit"] = rate_limit
    return {
        "mode": "calls",
        "settings": settings,
        "calls": calls,
        "threads": threads,
        "priority": priority,
    }


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.fixture
def limited() -> Iterator[SandboxServer]:
    with SandboxServer(size=20, seed=3, rate_limit=30) as server:
        yield server


def test_processes_sharing_a_client_id_stay_within_its_limit(limited: SandboxServer) -> None:
    # Four processes at 30/s each would send 120 calls in a second without a shared budget.
    workers = [Worker(calls_job(limited, calls=30, threads=8)) for _ in range(4)]
    for worker in workers:
        worker.finish()
    stats = limited.stats()
    client = limited.account.client_id
    assert stats["total_calls"] == 4 * 30 + 4  # and one token each
    assert stats["busiest_second"][client] <= 30 + 3
    assert stats["sent_429"] == 0


def test_order_calls_go_before_a_running_syncs_calls() -> None:
    with SandboxServer(size=20, seed=3, rate_limit=20) as sandbox:
        # A "sync" whose 32 threads keep 32 slots (1.6 s at 20/s) reserved ahead at all times.
        sync = Worker(calls_job(sandbox, calls=0, threads=32))
        sync.wait_started()
        order = Worker(calls_job(sandbox, calls=5, threads=1, priority="order"))
        order_calls = order.finish()
        sync_calls = sync.kill()
    span_start, span_end = order_calls[0][0], order_calls[-1][1]
    sync_during = sum(1 for _, end in sync_calls if span_start <= end <= span_end)
    # Behind the sync, each of the 5 calls would wait for 32 of its calls: 160 or more.
    assert sync_during < 60, f"{sync_during} sync calls went while 5 order calls waited"
    assert sandbox.stats()["sent_429"] == 0


def test_different_client_ids_do_not_share_a_budget() -> None:
    other = SandboxAccount(client_id="second-account-client", ylh_client_id="second-ylh")
    with (
        SandboxServer(size=20, seed=3, rate_limit=30) as first,
        SandboxServer(size=20, seed=3, rate_limit=30, account=other) as second,
    ):
        workers = [Worker(calls_job(sandbox, calls=75, threads=8)) for sandbox in (first, second)]
        for worker in workers:
            worker.finish()
        busiest = [
            sandbox.stats()["busiest_second"][sandbox.account.client_id]
            for sandbox in (first, second)
        ]
    # Sharing one budget, each would get about 15 calls a second.
    assert min(busiest) >= 24, busiest


def test_a_sync_killed_mid_run_leaves_the_next_one_its_full_pace(limited: SandboxServer) -> None:
    crashed = Worker(calls_job(limited, calls=0, threads=32))
    crashed.wait_started()
    crashed.kill()
    after = Worker(calls_job(limited, calls=75, threads=8)).finish()
    assert busiest_second([end for _, end in after]) >= 24  # of 30
    assert limited.stats()["sent_429"] == 0


def test_a_process_killed_while_holding_the_lock_does_not_block_the_budget(
    limited: SandboxServer,
) -> None:
    holder = Worker({"mode": "hold-lock", "client_id": limited.account.client_id})
    holder.wait_started()
    holder.kill()
    after = Worker(calls_job(limited, calls=30, threads=4)).finish()
    assert len(after) == 30


def _budget_path(sandbox: SandboxServer) -> Path:
    return budget_file(budget_dir(), sandbox.account.client_id)


def test_truncating_the_file_during_a_run_never_kills_the_processes(
    limited: SandboxServer,
) -> None:
    workers = [Worker(calls_job(limited, calls=60, threads=8)) for _ in range(2)]
    for worker in workers:
        worker.wait_started()
    path = _budget_path(limited)
    for size in (0, 100, 0, 4000, 0):
        os.truncate(path, size)  # truncate(1) takes no lock: at any moment of any call
        time.sleep(0.2)
    done = [worker.finish() for worker in workers]  # exit code 0: no Bus error (rc 135)
    assert [len(calls) for calls in done] == [60, 60], [w.stderr()[-2000:] for w in workers]
    assert path.stat().st_size == FILE_SIZE
    assert limited.stats()["sent_429"] == 0


def test_a_process_at_another_rate_on_the_same_client_id_is_refused_with_one_line(
    limited: SandboxServer,
) -> None:
    running = Worker(calls_job(limited, calls=0, threads=2))
    running.wait_started()
    other = Worker(calls_job(limited, calls=5, threads=1, rate_limit=100))
    code, errors = other.refused()
    running.kill()
    assert code == 3
    assert errors.count("\n") == 1
    assert "in use at 30 calls/s" in errors and "asks for 100 calls/s" in errors
