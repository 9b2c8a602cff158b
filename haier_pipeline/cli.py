"""The ``haier-pipeline`` command: the sandbox, the callback receiver, and a one-command demo.

Dagster runs the jobs (``dagster dev``, ``dagster job execute``); this command covers what
Dagster does not: local servers, and a first run for someone who has just cloned the repo.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

DEMO_TABLES = ("products", "prices", "stock", "sync_log", "sync_rejects")
# Dagster's console logger prints every engine event at DEBUG; the demo shows INFO and up.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"sandbox": _sandbox, "callbacks": _callbacks, "demo": _demo, "budget": _budget}
    if not args or args[0] not in commands:
        print(
            "usage: haier-pipeline {sandbox|callbacks|demo|budget} [options]\n"
            "  sandbox      run the local emulator of the Haier APIs (see --help)\n"
            "  callbacks    run the receiver for Haier's order callbacks (see --help)\n"
            "  demo         run catalog_sync end to end against a bundled sandbox\n"
            "  budget init  create the call budget's table in the database at HAIER_BUDGET_URL",
            file=sys.stderr,
        )
        return 2
    return commands[args[0]](args[1:])


def _sandbox(argv: list[str]) -> int:
    from haier_pipeline.sandbox.cli import main as sandbox_main

    return sandbox_main(argv)


def _callbacks(argv: list[str]) -> int:
    from haier_pipeline.callbacks.receiver import main as callbacks_main

    return callbacks_main(argv)


def _budget(argv: list[str]) -> int:
    """Create the shared call budget's table before any run needs it (runs also create it at
    their first call, which needs the CREATE privilege then)."""
    parser = argparse.ArgumentParser(prog="haier-pipeline budget", description=_budget.__doc__)
    parser.add_argument("action", choices=["init"])
    parser.parse_args(argv)

    from haier_pipeline.environment import HAIER_BUDGET_URL, SettingError
    from haier_pipeline.haier.budget import BudgetUnavailable
    from haier_pipeline.haier.budget_postgres import TABLE, init_table, where

    try:
        url = HAIER_BUDGET_URL.value(HAIER_BUDGET_URL.text())
        if not url:
            raise SettingError(
                f"{HAIER_BUDGET_URL.name} is not set; set it to the budget's database "
                "(postgresql://user@host:port/db) first"
            )
        init_table(url)
    except (SettingError, BudgetUnavailable) as problem:
        print(f"haier-pipeline budget init: {problem}", file=sys.stderr)
        return 2
    print(f"table {TABLE} is ready in the database at {where(url)}")
    return 0


def _demo(argv: list[str]) -> int:
    """Start a sandbox, run catalog_sync through Dagster against it, show what landed."""
    parser = argparse.ArgumentParser(prog="haier-pipeline demo", description=_demo.__doc__)
    parser.add_argument("--products", type=int, default=300, help="sandbox catalog size")
    parser.add_argument(
        "--duckdb", default=os.environ.get("HAIER_DUCKDB_PATH", "data/haier.duckdb")
    )
    args = parser.parse_args(argv)

    from dagster import DagsterInstance

    from haier_pipeline.sandbox.server import SandboxServer

    with SandboxServer(size=args.products) as sandbox:
        os.environ.update(sandbox.env(HAIER_DUCKDB_PATH=args.duckdb))
        from haier_pipeline.definitions import build_defs

        job = build_defs().resolve_job_def("catalog_sync")
        instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
        with instance or DagsterInstance.ephemeral() as active:
            result = job.execute_in_process(
                instance=active, raise_on_error=False, run_config=QUIET_RUN_CONFIG
            )
        calls = sandbox.stats()["total_calls"]
    print(f"catalog_sync {'succeeded' if result.success else 'FAILED'} (run {result.run_id})")
    print(f"{calls} API calls to the sandbox")
    _print_tables(Path(args.duckdb))
    return 0 if result.success else 1


def _print_tables(path: Path) -> None:
    import duckdb

    print(f"DuckDB file: {path.resolve()}")
    with duckdb.connect(str(path), read_only=True) as con:
        for table in DEMO_TABLES:
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            print(f"  {table:<13} {row[0] if row else 0:>7} rows")
        print("sync_log of this run:")
        for sync_type, status, total, ok, failed in con.execute(
            "SELECT sync_type, status, total_count, success_count, failed_count FROM sync_log "
            "WHERE run_id = (SELECT run_id FROM sync_log ORDER BY id DESC LIMIT 1) ORDER BY id"
        ).fetchall():
            print(f"  {sync_type:<9} {status:<8} {ok}/{total} loaded, {failed} failed")
    query = (
        f"import duckdb; print(duckdb.connect({str(path.resolve())!r}, read_only=True)"
        ".sql('FROM products LIMIT 5'))"
    )
    # sys.executable is this venv's Python, which has duckdb; a bare `python` may not.
    print(f"Query it: {shlex.quote(sys.executable)} -c {shlex.quote(query)}")


if __name__ == "__main__":
    raise SystemExit(main())
