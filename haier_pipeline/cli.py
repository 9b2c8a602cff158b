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

from haier_pipeline.environment import HAIER_DUCKDB_PATH, SettingError

DEMO_TABLES = ("products", "prices", "stock", "sync_log", "sync_rejects")
# Dagster's console logger prints every engine event at DEBUG; the demo shows INFO and up.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


USAGE = (
    "usage: haier-pipeline {sandbox|callbacks|demo|purge-accounts|budget} [options]\n"
    "  sandbox         run the local emulator of the Haier APIs (see --help)\n"
    "  callbacks       run the receiver for Haier's order callbacks (see --help)\n"
    "  demo            run catalog_sync end to end against a bundled sandbox\n"
    "  purge-accounts  list (--yes: delete) catalog rows of accounts no longer configured\n"
    "  budget init     create the call budget's table in the database at HAIER_BUDGET_URL"
)
HELP_FLAGS = frozenset({"-h", "--help", "help"})


def main(argv: list[str] | None = None) -> int:
    """Asked for help: the usage on stdout, exit 0 (as every Unix command does); no or an
    unknown command: the usage on stderr, exit 2 (argparse's convention)."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "sandbox": _sandbox,
        "callbacks": _callbacks,
        "demo": _demo,
        "purge-accounts": _purge_accounts,
        "budget": _budget,
    }
    if args and args[0] in HELP_FLAGS:
        print(USAGE)
        return 0
    if not args or args[0] not in commands:
        print(USAGE, file=sys.stderr)
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
        "--duckdb",
        type=Path,
        help="the DuckDB file to write (default: HAIER_DUCKDB_PATH, relative to HAIER_DATA_DIR "
        "or the checkout)",
    )
    args = parser.parse_args(argv)
    try:
        duckdb_path = (args.duckdb or _setting_path()).resolve()
    except SettingError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    from dagster import DagsterInstance

    from haier_pipeline.sandbox.server import SandboxServer

    with SandboxServer(size=args.products) as sandbox:
        os.environ.update(sandbox.env(HAIER_DUCKDB_PATH=str(duckdb_path)))
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
    _print_tables(duckdb_path)
    return 0 if result.success else 1


def _setting_path() -> Path:
    """HAIER_DUCKDB_PATH under the data-path rule (see ``environment.data_dir``)."""
    return HAIER_DUCKDB_PATH.value(HAIER_DUCKDB_PATH.text())


def _purge_accounts(argv: list[str]) -> int:
    """List the catalog rows (products, prices, stock and their histories) of accounts that
    HAIER_ACCOUNTS_FILE no longer configures; with --yes, delete them and publish."""
    parser = argparse.ArgumentParser(
        prog="haier-pipeline purge-accounts", description=_purge_accounts.__doc__
    )
    parser.add_argument("--yes", action="store_true", help="delete them (default: list only)")
    args = parser.parse_args(argv)

    from haier_pipeline import environment as env
    from haier_pipeline.accounts import AccountsFileError, account_names, load_accounts
    from haier_pipeline.storage import unconfigured
    from haier_pipeline.storage.warehouse import StorageError, Warehouse

    try:
        configured = account_names(load_accounts())
        path = env.HAIER_DUCKDB_PATH.value(env.HAIER_DUCKDB_PATH.text())
        warehouse = Warehouse(path, owner="haier-pipeline purge-accounts")
        found = unconfigured.unconfigured_rows(warehouse, configured)
        if not found or not args.yes:
            print(_unconfigured_report(found, configured, Path(path)))
            return 0
        deleted = unconfigured.purge_unconfigured(warehouse, configured)
    except (AccountsFileError, env.SettingError, StorageError) as problem:
        print(problem, file=sys.stderr)
        return 2
    print(f"deleted from {path}: {unconfigured.describe(deleted)}")
    return 0


def _unconfigured_report(
    found: dict[str, dict[str, int]], configured: list[str], path: Path
) -> str:
    from haier_pipeline.storage.unconfigured import describe

    accounts = ", ".join(configured)
    if not found:
        return f"{path} holds catalog rows of configured accounts only ({accounts})."
    return (
        f"{path} holds catalog rows of accounts that are not configured (configured: "
        f"{accounts}): {describe(found)}. Run `haier-pipeline purge-accounts --yes` to "
        "delete them."
    )


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
