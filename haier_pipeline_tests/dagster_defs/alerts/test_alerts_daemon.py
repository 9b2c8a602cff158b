"""End to end with Dagster's own daemon: a queued run fails, a signed alert arrives (slow).

``dagster-daemon run`` evaluates the sensors as in production (SQLite instance here; the
deploy suite does the same on Postgres); ``dagster job launch`` queues a balance_snapshot run
that fails on a wrong password. A DingTalk-shaped loopback target verifies the signature.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline_tests.alerts.webhooks import SECRET, Target

REPO_ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ALERT_WITHIN_S = 60  # the promise: within a minute of the failure


@pytest.mark.slow
def test_a_failed_queued_run_reaches_a_signed_robot_within_a_minute(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home)
    with Target("dingtalk") as target:
        env = {
            **os.environ,
            **sandbox.env(HAIER_DUCKDB_PATH=str(tmp_path / "haier.duckdb")),
            "DAGSTER_HOME": str(home),
            "HAIER_CUSTOMER_PASSWORD": "not-the-password",
            "HAIER_ALERT_KIND": "dingtalk",
            "HAIER_ALERT_WEBHOOK_URL": target.url,
            "HAIER_ALERT_SECRET": SECRET,
            "HAIER_UI_URL": "http://127.0.0.1:3000",
        }
        workspace = ["-w", str(REPO_ROOT / "workspace.yaml")]
        with (tmp_path / "daemon.log").open("w") as log:
            daemon = subprocess.Popen(
                [BIN / "dagster-daemon", "run", *workspace],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                time.sleep(15)  # the sensor daemon's first pass starts the failure sensor's cursor
                subprocess.run(
                    [BIN / "dagster", "job", "launch", *workspace, "-j", "balance_snapshot"],
                    cwd=REPO_ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                launched = time.monotonic()
                while not target.received and time.monotonic() - launched < ALERT_WITHIN_S:
                    time.sleep(1)
                waited = time.monotonic() - launched
            finally:
                daemon.terminate()
                daemon.wait(60)

    print(f"\nalert arrived {waited:.0f} s after the launch")
    assert target.problems == []
    [text] = target.texts()
    assert "run failed: balance_snapshot" in text and "HAIER_CUSTOMER_PASSWORD" in text
    assert "http://127.0.0.1:3000/runs/" in text
    assert SECRET.encode() not in target.received[0].raw
