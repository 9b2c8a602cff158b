"""Analysts can read the DuckDB file at any time during a sync, and never see half a refresh."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline_tests.conftest import Pipeline

COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM prices), "
    "(SELECT count(*) FROM stock)"
)

READER = textwrap.dedent(
    """
    import json, sys, time
    import duckdb
    path, stop_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
    results = []
    while True:
        started = time.monotonic()
        try:
            with duckdb.connect(path, read_only=True) as con:
                counts = con.execute(sys.argv[4]).fetchone()
            results.append({"ok": True, "s": time.monotonic() - started, "counts": counts})
        except Exception as exc:
            results.append({"ok": False, "s": time.monotonic() - started, "error": str(exc)})
        if __import__("os").path.exists(stop_file):
            break
        time.sleep(0.2)
    json.dump(results, open(out, "w"))
    """
)


def _counts(path: Path) -> tuple[int, int, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(COUNTS_SQL).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


@pytest.mark.parametrize("sandbox", [{"size": 150, "seed": 5}], indirect=True)
def test_readers_succeed_during_a_sync_and_see_old_or_new_catalog_whole(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    codes = [p.code for p in pipeline.sandbox.catalog.procurable]
    monkeypatch.setenv("HAIER_PRODUCT_CODES", ",".join(codes[:40]))
    assert pipeline.run("catalog_sync").success
    old = _counts(pipeline.duckdb_path)

    monkeypatch.delenv("HAIER_PRODUCT_CODES")
    monkeypatch.setenv("HAIER_RATE_LIMIT", "150")  # a sync of several seconds
    # another rate: a budget of its own (a budget file keeps the rate it is used at)
    monkeypatch.setenv("HAIER_BUDGET_DIR", str(tmp_path / "budget-150"))
    pipeline.sandbox.faults = FaultConfig(latency_s=0.02)
    stop, out = tmp_path / "stop", tmp_path / "reads.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(pipeline.duckdb_path), str(stop), str(out), COUNTS_SQL]
    )
    held = duckdb.connect(str(pipeline.duckdb_path), read_only=True)  # an analyst's open notebook
    try:
        time.sleep(0.5)
        result = pipeline.run("catalog_sync")
        time.sleep(0.5)
        assert held.execute(COUNTS_SQL).fetchone() == old  # the open notebook kept its snapshot
    finally:
        held.close()
        stop.touch()
        reader.wait(timeout=30)

    assert result.success
    new = _counts(pipeline.duckdb_path)
    assert new != old
    reads = json.loads(out.read_text())
    assert len(reads) >= 10
    # Never refused, never waiting for the writer: every read succeeded, and reads kept
    # finishing while the sync ran (a reader blocked by a writer's lock would stall or fail).
    assert all(r["ok"] for r in reads), [r for r in reads if not r["ok"]]
    seen = {tuple(r["counts"]) for r in reads if r["ok"]}
    assert seen <= {old, new}, seen
