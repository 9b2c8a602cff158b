"""catalog_sync and push_orders started together both finish, and the file stays whole."""

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from haier_pipeline.sandbox import FaultConfig
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import stocked_codes
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

BIN = Path(sys.executable).parent


def _start(job: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BIN / "dagster", "job", "execute", "-m", "haier_pipeline", "-j", job],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("sandbox", [{"size": 150, "seed": 9}], indirect=True)
def test_two_writing_runs_started_together_both_succeed(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pipeline.run("catalog_sync").success
    inbox = Path(os.environ["HAIER_ORDER_INBOX"])
    inbox.mkdir(parents=True, exist_ok=True)
    codes = stocked_codes(pipeline.sandbox, 8)
    for n, code in enumerate(codes):
        write_order_file(inbox, make_order_dict(f"SO-CW-{n}", items=((code, 1, "1999.00"),)))
    pipeline.sandbox.faults = FaultConfig(latency_s=0.02)  # both runs overlap for seconds
    monkeypatch.setenv("HAIER_RATE_LIMIT", "200")
    # another rate: a budget of its own (a budget file keeps the rate it is used at)
    monkeypatch.setenv("HAIER_BUDGET_DIR", str(tmp_path / "budget-200"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (Path(__file__).parents[2] / "dagster_home" / "dagster.yaml").read_text()
    )
    # Create Dagster's own SQLite schema first: two processes creating it at once race in
    # Dagster's storage setup (table already exists), which is not what this test is about.
    with DagsterInstance.from_config(str(home)):
        pass

    runs = [_start("catalog_sync", home), _start("push_orders", home)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    time.sleep(0.1)

    assert [run.returncode for run in runs] == [0, 0], [o[-2000:] for o in outputs]
    # The two runs really wrote side by side: each started before the other ended, as their
    # own start and end times in Dagster's run storage say.
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
    spans = {r.dagster_run.job_name: (r.start_time, r.end_time) for r in records}
    assert set(spans) == {"catalog_sync", "push_orders"}
    (sync_start, sync_end), (push_start, push_end) = spans["catalog_sync"], spans["push_orders"]
    assert None not in (sync_start, sync_end, push_start, push_end)
    assert sync_start < push_end and push_start < sync_end, spans
    with duckdb.connect(str(pipeline.duckdb_path), read_only=True) as con:
        statuses = con.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall()
        open_rows = con.execute(
            "SELECT count(*) FROM sync_log WHERE status = 'processing'"
        ).fetchone()
        counts = con.execute(
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM prices)"
        ).fetchone()
    assert statuses == [("pushed", len(codes))]
    assert open_rows == (0,)
    n = len(pipeline.sandbox.catalog.procurable)
    assert counts == (n, n)
    assert all(pipeline.sandbox.create_count(f"SO-CW-{i}") == 1 for i in range(len(codes)))
