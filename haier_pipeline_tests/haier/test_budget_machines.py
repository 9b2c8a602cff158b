"""The file budget and two machines sharing its folder: the second is refused, never given a
budget of its own (see ``machines.py`` for how a machine is made)."""

from __future__ import annotations

from pathlib import Path

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline_tests.haier.machines import Machine, require_namespaces
from haier_pipeline_tests.haier.test_budget_processes import Worker, calls_job


def test_two_machines_sharing_one_budget_folder_the_second_is_refused(tmp_path: Path) -> None:
    require_namespaces()
    first, second = Machine(tmp_path), Machine(tmp_path)
    with SandboxServer(size=20, seed=3, rate_limit=30) as limited:
        running = Worker(calls_job(limited, calls=0, threads=4), on=first.command)
        running.wait_started()
        job = calls_job(limited, calls=5, threads=4)
        code, errors = Worker(job, on=second.command).refused()
        code_again, _ = Worker(job, on=second.command).refused()
        running.kill()
    assert code == 3, errors
    assert errors.count("\n") == 1
    assert "another machine" in errors and "HAIER_BUDGET_URL" in errors
    assert code_again == 3  # refused every time while the first machine uses it
    assert limited.stats()["busiest_second"][limited.account.client_id] <= 30
