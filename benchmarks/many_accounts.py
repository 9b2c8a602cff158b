"""Several accounts syncing at once on one machine, each with its own client_id and gateway.

For each count in ``--accounts`` (default 4, then 8): start that many sandboxes in their own
processes (``account_sandbox.py``, each account its own client_id), then that many
``dagster job execute -m haier_pipeline -j catalog_sync`` children at once, each pointed at
its own sandbox with its own DuckDB file and Dagster home, all sharing one HAIER_BUDGET_DIR
as accounts on one machine do. Per account: calls and 429s and the busiest one-second window
counted by its sandbox, sync time from its sync_log, efficiency = (calls / limit) / sync time.
Where the CPU goes: each child's CPU time from os.wait4, each sandbox's from /proc, against
the machine's cores x the wall time of the whole round.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import tempfile
import time
from pathlib import Path

import duckdb
from catalog_sync import DAGSTER, DAGSTER_YAML
from harness import (
    BenchmarkError,
    ChildRun,
    SandboxProcess,
    counties,
    machine,
    markdown_table,
    progress,
    run_benchmark,
    run_child,
    sync_parser,
    tail,
)

JOB = [DAGSTER, "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"]
HEADERS = (
    "accounts",
    "account",
    "calls",
    "sync s",
    "calls/s",
    "efficiency",
    "busiest second",
    "429s",
    "client CPU s",
    "client CPU ms/call",
    "sandbox CPU s",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_on = machine()
    tables = []
    for count in args.accounts:
        progress(f"{count} accounts syncing at once ...")
        rows, summary = _round(count, args)
        tables.append(markdown_table(HEADERS, rows) + "\n" + summary)
    print(
        f"many accounts: each {args.products:,} products x {args.counties} counties at "
        f"{args.rate_limit:g}/s, {args.latency_ms:g} ms, own client_id and sandbox; "
        f"{started_on} at start"
    )
    print("\n\n".join(tables))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = sync_parser(__doc__.split("\n\n")[0], products=2000)
    add = parser.add_argument
    add("--accounts", type=int, nargs="+", default=[4, 8], help="one round per count")
    return parser


def _round(count: int, args: argparse.Namespace) -> tuple[list[list[object]], str]:
    with (
        tempfile.TemporaryDirectory(prefix="haier-bench-accounts-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        sandboxes = [
            stack.enter_context(
                SandboxProcess(
                    args.products, args.latency_ms, args.rate_limit, f"bench-account-{i}"
                )
            )
            for i in range(count)
        ]
        sandbox_cpu = [sandbox.cpu_seconds() for sandbox in sandboxes]
        envs = [
            _environment(sandbox, work / f"account-{i}", args)
            for i, sandbox in enumerate(sandboxes)
        ]
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            futures = [
                pool.submit(run_child, JOB, env, work / f"account-{i}.log")
                for i, env in enumerate(envs)
            ]
            runs = [future.result() for future in futures]
        wall = time.monotonic() - began
        rows = []
        cpu_total = 0.0
        for i, (sandbox, env, run) in enumerate(zip(sandboxes, envs, runs, strict=True)):
            _checked(run, i)
            stats = sandbox.stats()
            calls = int(stats["total_calls"])
            sync_s = _sync_seconds(Path(env["HAIER_DUCKDB_PATH"]))
            served_cpu = sandbox.cpu_seconds() - sandbox_cpu[i]
            cpu_total += run.cpu_s + served_cpu
            busiest = stats["busiest_second"].get(f"bench-account-{i}", 0)
            rows.append(
                [
                    count,
                    i,
                    calls,
                    sync_s,
                    calls / sync_s,
                    round(calls / args.rate_limit / sync_s, 3),
                    busiest,
                    stats["sent_429"],
                    run.cpu_s,
                    run.cpu_s / calls * 1000,
                    served_cpu,
                ]
            )
    cores = os.cpu_count() or 1
    summary = (
        f"- {count} accounts: round wall {wall:.1f} s; CPU used {cpu_total:.1f} s of "
        f"{cores * wall:.1f} available ({cpu_total / (cores * wall):.0%} of {cores} cores); "
        "client CPU includes Dagster's start-up (about 4 s per run)."
    )
    return rows, summary


def _environment(sandbox: SandboxProcess, work: Path, args: argparse.Namespace) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return (
        dict(os.environ)
        | sandbox.env
        | {
            "HAIER_COUNTY_CODES": ",".join(counties(args.counties)),
            "HAIER_RATE_LIMIT": f"{args.rate_limit:g}",
            "DAGSTER_HOME": str(home),
            "HAIER_DUCKDB_PATH": str(work / "data" / "haier.duckdb"),
            "HAIER_BUDGET_DIR": str(work.parent / "budget"),
        }
    )


def _sync_seconds(db: Path) -> float:
    with duckdb.connect(str(db), read_only=True) as con:
        (seconds,) = con.execute(
            "SELECT epoch(max(completed_at) - min(started_at)) FROM sync_log"
        ).fetchone() or (None,)
    return float(seconds)


def _checked(run: ChildRun, account: int) -> None:
    if run.exit_code != 0:
        raise BenchmarkError(
            f"account {account}'s sync exited {run.exit_code}:\n{tail(run.output)}"
        )


if __name__ == "__main__":
    run_benchmark(main)
