"""kill -9 in the middle of push_orders, then run again: no order lost, none pushed twice.

push_orders runs as users run it (``dagster job execute``) in its own process, with the shipped
dagster.yaml; the sandbox stays in this process, so the test sees every create the moment it
arrives and kills the run while it is still pushing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import (
    drop_order,
    inbox,
    orders,
    processed,
    stocked_codes,
)
from haier_pipeline_tests.dagster_defs.orders.test_order_definitions import SHIPPED_YAML

ORDERS = 20
LATENCY_S = 0.1  # per API call, so that 20 orders take seconds and the kill lands mid-run
START_TIMEOUT_S = 120.0


def _start_push_orders(dagster_home: Path) -> subprocess.Popen[bytes]:
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "job", "execute", "-m", "haier_pipeline", "-j", "push_orders"]
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the kill reaches every child
    )


def _kill_after_creates(process: subprocess.Popen[bytes], pipeline: Pipeline, creates: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(pipeline.sandbox.orders) < creates:
        assert process.poll() is None, "push_orders ended before the kill"
        assert time.monotonic() < deadline, "push_orders did not start pushing in time"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.usefixtures("synced_catalog")
@pytest.mark.parametrize("kill_after", [3, 12])
def test_a_killed_run_loses_no_order_and_the_next_pushes_none_twice(
    pipeline: Pipeline, tmp_path: Path, kill_after: int
) -> None:
    sandbox = pipeline.sandbox
    so_ids = [f"SO-K{i:02d}" for i in range(ORDERS)]
    for so_id, code in zip(so_ids, stocked_codes(sandbox, ORDERS), strict=True):
        drop_order(so_id, code)
    dagster_home = tmp_path / "cli_dagster_home"
    dagster_home.mkdir()
    shutil.copy(SHIPPED_YAML, dagster_home)
    sandbox.faults = FaultConfig(latency_s=LATENCY_S)

    _kill_after_creates(_start_push_orders(dagster_home), pipeline, kill_after)
    created_before_kill = set(sandbox.orders)
    left_in_inbox = {path.stem for path in inbox().glob("*.json")}
    assert 0 < len(created_before_kill) < ORDERS and left_in_inbox

    sandbox.faults = FaultConfig()
    result = pipeline.run("push_orders")
    assert result.success

    held = sandbox.orders
    assert set(held) == set(so_ids)
    repushed = {so_id for so_id in so_ids if sandbox.create_count(so_id) > 1}
    assert {sandbox.create_count(so_id) for so_id in so_ids} <= {1, 2}
    assert len(repushed) <= 1  # at most the order in flight at the kill, answered by soId
    assert repushed <= created_before_kill & left_in_inbox
    rows = orders(pipeline)
    assert {so_id: (row["status"], row["retail_order_no"]) for so_id, row in rows.items()} == {
        so_id: ("pushed", held[so_id]["retailOrderNo"]) for so_id in so_ids
    }
    assert list(inbox().glob("*.json")) == []
    assert processed("pushed") == sorted(f"{so_id}.json" for so_id in so_ids)
    assert pipeline.rows(
        "SELECT status, message LIKE 'interrupted: run % ended without closing this sync' "
        "FROM sync_log WHERE sync_type = 'order' ORDER BY id"
    ) == [("failed", True), ("success", False)]
