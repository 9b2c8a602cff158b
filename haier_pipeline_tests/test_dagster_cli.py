"""The commands users type: `dagster job execute -m haier_pipeline` and `haier-pipeline demo`."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from haier_pipeline.sandbox import SandboxServer

BIN = Path(sys.executable).parent


def test_dagster_job_execute_runs_catalog_sync_without_leaking_secrets(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    duckdb_path = tmp_path / "haier.duckdb"
    env = {
        **os.environ,
        **sandbox.env(HAIER_DUCKDB_PATH=str(duckdb_path), HAIER_RATE_LIMIT="1000"),
        "DAGSTER_HOME": str(home),
    }
    done = subprocess.run(
        [BIN / "dagster", "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        statuses = con.execute("SELECT sync_type, status FROM sync_log ORDER BY id").fetchall()
    assert statuses == [("products", "success"), ("prices", "success"), ("stock", "success")]
    account = sandbox.account
    for secret in (account.client_secret, account.password, account.seller_password):
        assert secret not in done.stdout + done.stderr
    assert "SensorDefinition" not in done.stderr  # Dagster's own owners BetaWarning, silenced


def test_haier_pipeline_demo_runs_end_to_end_and_prints_a_query_that_works(
    tmp_path: Path,
) -> None:
    duckdb_path = tmp_path / "o'brien data" / "haier.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAIER_", "YLH_"))}
    done = subprocess.run(
        [BIN / "haier-pipeline", "demo", "--products", "60", "--duckdb", str(duckdb_path)],
        env={**env, "HAIER_RATE_LIMIT": "1000"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "catalog_sync succeeded" in done.stdout
    assert f"DuckDB file: {duckdb_path}" in done.stdout
    assert "products  success" in done.stdout
    command = done.stdout.strip().splitlines()[-1].removeprefix("Query it: ")
    # Run as a user would paste it: in a shell, from another folder, with no venv activated.
    shown = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=60, cwd=tmp_path.parent
    )
    assert shown.returncode == 0, shown.stderr
    assert "product_code" in shown.stdout


def test_dg_checks_and_lists_the_same_definitions() -> None:
    root = Path(__file__).resolve().parents[1]
    checked = subprocess.run(
        [BIN / "dg", "check", "defs"], capture_output=True, text=True, timeout=300, cwd=root
    )
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    listed = subprocess.run(
        [BIN / "dg", "list", "defs", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name in ("catalog_sync", "push_orders", "check_connection", "order_inbox_sensor"):
        assert name in listed.stdout
