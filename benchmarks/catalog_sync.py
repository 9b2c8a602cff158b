"""How close catalog_sync comes to Haier's rate limit, against a one-call-at-a-time baseline.

A sync's floor is calls / limit seconds: at 100 calls/s nothing can be faster. Efficiency is
floor / sync time. For each latency given, this starts the sandbox in its own process, runs
the job exactly as users do (``dagster job execute -m haier_pipeline -j catalog_sync`` in a
child process with its own DAGSTER_HOME and DuckDB file), then runs the naive baseline client
(``naive_client.py``) against the same sandbox, and prints one row each:

- calls and 429s: counted by the sandbox (/_sandbox/stats, reset before each run);
- sync time: from the run's sync_log rows (min started_at to max completed_at), i.e. from
  just before the first API call to the tables published;
- start-up overhead: the child's whole wall time minus its sync time;
- peak memory: the child's ru_maxrss, from os.wait4.

One call at a time at 30 ms takes minutes for a full catalog, so the baseline runs on
``--baseline-products`` procurable products and its per-product time is scaled up to the
catalog's; the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from harness import (
    PYTHON,
    BenchmarkError,
    ChildRun,
    SandboxProcess,
    counties,
    machine,
    markdown_table,
    progress,
    run_benchmark,
    run_child,
    tail,
)

DAGSTER = str(Path(PYTHON).with_name("dagster"))
JOB_COMMAND = [DAGSTER, "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"]
NAIVE_CLIENT = Path(__file__).with_name("naive_client.py")
# The benchmark's own Dagster instance: no telemetry, no first-run notice in the timings.
DAGSTER_YAML = "telemetry:\n  enabled: false\n"
HEADERS = (
    "client",
    "products",
    "counties",
    "latency ms",
    "limit/s",
    "calls",
    "floor s",
    "sync s",
    "calls/s",
    "efficiency",
    "start-up s",
    "429s",
    "peak MB",
)


@dataclass(frozen=True)
class Row:
    client: str
    products: int
    counties: int
    latency_ms: float
    limit: float
    calls: int
    floor_s: float
    sync_s: float
    startup_s: float
    http_429: int
    peak_mb: float
    note: str = ""

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.sync_s

    @property
    def efficiency(self) -> float:
        return self.floor_s / self.sync_s

    def cells(self) -> list[object]:
        return [
            self.client,
            self.products,
            self.counties,
            f"{self.latency_ms:g}",
            f"{self.limit:g}",
            self.calls,
            self.floor_s,
            self.sync_s,
            self.calls_per_s,
            self.efficiency,
            self.startup_s,
            self.http_429,
            self.peak_mb,
        ]

    def as_json(self) -> dict[str, object]:
        return asdict(self) | {"calls_per_s": self.calls_per_s, "efficiency": self.efficiency}


@dataclass(frozen=True)
class SyncLog:
    """What the run wrote about itself, read back from the DuckDB file analysts query."""

    sync_s: float
    procurable: int


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limit = args.rate_limit or args.client_rate_limit
    if not limit > 0:
        raise BenchmarkError("set --rate-limit or --client-rate-limit: the floor needs a limit")
    rows: list[Row] = []
    started_on = machine()
    with tempfile.TemporaryDirectory(prefix="haier-bench-") as tmp:
        for latency in args.latency_ms:
            work = Path(tmp) / f"latency-{latency:g}"
            work.mkdir()
            with SandboxProcess(args.products, latency, args.rate_limit) as sandbox:
                pipeline, log = _pipeline(sandbox, args, latency, limit, work)
                rows.append(pipeline)
                if args.baseline_products:
                    rows.append(_baseline(sandbox, args, latency, limit, log, work))
            progress(f"latency {latency:g} ms done")
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    else:
        print(_header(args, started_on))
        print(markdown_table(HEADERS, [row.cells() for row in rows]))
        for row in rows:
            if row.note:
                print(f"- {row.note}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--products", type=int, default=2000, help="sandbox catalog size (default 2000)")
    add("--counties", type=int, default=3, help="counties to query stock for, 1-8 (default 3)")
    add(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[30.0],
        help="sandbox latency per call; one scenario per value (default 30)",
    )
    add("--rate-limit", type=float, default=100.0, help="the sandbox's limit, 0 = lifted")
    add(
        "--client-rate-limit",
        type=float,
        default=None,
        help="HAIER_RATE_LIMIT for the job (default: the sandbox's limit)",
    )
    add(
        "--baseline-products",
        type=int,
        default=100,
        help="procurable products the baseline fetches before scaling; 0 skips it (default 100)",
    )
    add("--json", action="store_true", help="print the rows as JSON instead of a table")
    return parser


def _pipeline(
    sandbox: SandboxProcess, args: argparse.Namespace, latency: float, limit: float, work: Path
) -> tuple[Row, SyncLog]:
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    db = work / "pipeline" / "haier.duckdb"
    client_limit = args.client_rate_limit or args.rate_limit
    env = os.environ | sandbox.env
    env |= {
        "HAIER_COUNTY_CODES": ",".join(counties(args.counties)),
        "HAIER_RATE_LIMIT": f"{client_limit:g}",
        "DAGSTER_HOME": str(home),
        "HAIER_DUCKDB_PATH": str(db),
    }
    sandbox.reset_stats()
    progress(f"latency {latency:g} ms: running catalog_sync through dagster ...")
    run = run_child(JOB_COMMAND, env, work / "job.log")
    check_run(run, "dagster job execute -m haier_pipeline -j catalog_sync", work / "job.log")
    stats = sandbox.stats()
    log = read_sync_log(db)
    calls = int(stats["total_calls"])
    row = Row(
        client="pipeline",
        products=args.products,
        counties=args.counties,
        latency_ms=latency,
        limit=limit,
        calls=calls,
        floor_s=calls / limit,
        sync_s=log.sync_s,
        startup_s=run.wall_s - log.sync_s,
        http_429=int(stats["sent_429"]),
        peak_mb=run.peak_rss_mb,
    )
    return row, log


def _baseline(
    sandbox: SandboxProcess,
    args: argparse.Namespace,
    latency: float,
    limit: float,
    pipeline: SyncLog,
    work: Path,
) -> Row:
    """Measure the naive client on a subset, then scale its per-product time to the catalog."""
    subset = min(args.baseline_products, pipeline.procurable)
    env = os.environ | sandbox.env | {"HAIER_COUNTY_CODES": ",".join(counties(args.counties))}
    command = [PYTHON, str(NAIVE_CLIENT), "--products", str(subset)]
    command += ["--duckdb", str(work / "baseline.duckdb")]
    sandbox.reset_stats()
    progress(f"latency {latency:g} ms: running the one-call-at-a-time baseline ...")
    run = run_child(command, env, work / "baseline.log")
    check_run(run, "the baseline client", work / "baseline.log")
    measured = json.loads(run.output.strip().splitlines()[-1])
    scale = pipeline.procurable / subset
    per_product_s = measured["sync_s"] - measured["setup_s"]
    sync_s = measured["setup_s"] + per_product_s * scale
    calls = 2 + pipeline.procurable * (1 + args.counties)  # token, catalog, price, stock
    server_calls = int(sandbox.stats()["total_calls"])
    if server_calls != measured["calls"]:
        raise BenchmarkError(
            f"the baseline counted {measured['calls']} calls, the sandbox {server_calls}"
        )
    note = (
        f"latency {latency:g} ms: baseline measured on {subset} of {pipeline.procurable} "
        f"procurable products ({server_calls} calls in {measured['sync_s']:.1f} s, "
        f"{measured['setup_s']:.2f} s of it token and catalog); its per-product time was "
        f"scaled by {scale:.1f}. Start-up, 429s and peak MB are as measured on the subset."
    )
    if sync_s < calls / limit:  # a subset short enough to fit in the server's burst allowance
        sync_s = calls / limit
        note += " Scaled, it would outrun the limit, so its sync time is set to the floor."
    return Row(
        client=f"baseline (scaled from {subset})",
        products=args.products,
        counties=args.counties,
        latency_ms=latency,
        limit=limit,
        calls=calls,
        floor_s=calls / limit,
        sync_s=sync_s,
        startup_s=run.wall_s - measured["sync_s"],
        http_429=int(measured["http_429"]),
        peak_mb=run.peak_rss_mb,
        note=note,
    )


def check_run(run: ChildRun, what: str, log_path: Path) -> None:
    if run.exit_code != 0:
        raise BenchmarkError(
            f"{what} exited with {run.exit_code}; last lines of {log_path}:\n{tail(run.output)}"
        )


def read_sync_log(db: Path) -> SyncLog:
    """Sync time and counts from sync_log; a run that did not fully succeed is an error."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, sync_type, status, success_count, started_at, completed_at "
            "FROM sync_log ORDER BY id"
        ).fetchall()
    if len({row[0] for row in rows}) != 1 or len(rows) != 3:
        raise BenchmarkError(f"expected the 3 sync_log rows of one run in {db}, found {rows}")
    statuses = {sync_type: status for _, sync_type, status, *_ in rows}
    if set(statuses.values()) != {"success"}:
        raise BenchmarkError(f"the sync did not fully succeed: {statuses}; see sync_log in {db}")
    started = min(row[4] for row in rows)
    completed = max(row[5] for row in rows)
    procurable = next(row[3] for row in rows if row[1] == "products")
    return SyncLog((completed - started).total_seconds(), int(procurable))


def _header(args: argparse.Namespace, started_on: str) -> str:
    client_limit = args.client_rate_limit or args.rate_limit
    server = f"{args.rate_limit:g}/s" if args.rate_limit else "lifted"
    return (
        f"catalog_sync benchmark, {started_on} at start; sandbox limit {server}, "
        f"HAIER_RATE_LIMIT={client_limit:g}; floor = calls / {args.rate_limit or client_limit:g}"
    )


if __name__ == "__main__":
    run_benchmark(main)
