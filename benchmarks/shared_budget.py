"""One client_id's budget shared by four Dagster runs at once: catalog_sync and, started during
it, push_orders, track_logistics and balance_snapshot, each its own process.

Steps: start the sandbox in its own process; sync the products the orders will name (a small
catalog_sync with HAIER_PRODUCT_CODES, so push_orders can validate them); drop ``--orders``
order files in the inbox; reset the sandbox's stats; start the full catalog_sync
(``dagster job execute -m haier_pipeline -j catalog_sync``) and ``--delay`` seconds later the
three other jobs the same way. Reported:

- the most calls in any one-second window per client_id, counted by the sandbox as calls
  arrive (``busiest_second`` in /_sandbox/stats), and the 429s it sent;
- the sync's efficiency on its own calls: (its sync_log api_calls / limit) / its sync time;
- each order's push time from its run's start (push_orders' sync_log started_at to the
  order's pushed_at), and from the push_orders process's launch (Dagster's start-up included).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from catalog_sync import DAGSTER, DAGSTER_YAML
from harness import (
    ROOT,
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

from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.sandbox.catalog import generate_catalog

sys.path.insert(0, str(ROOT))  # the order files are written by the tests' own factory
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

SEED = 42  # the sandbox's default catalog seed
ORDER_COUNTY = "110101"
SIDE_JOBS = ("push_orders", "track_logistics", "balance_snapshot")


def job_command(job: str) -> list[str]:
    return [DAGSTER, "job", "execute", "-m", "haier_pipeline", "-j", job]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_on = machine()
    with (
        tempfile.TemporaryDirectory(prefix="haier-bench-shared-") as tmp,
        SandboxProcess(args.products, args.latency_ms, args.rate_limit) as sandbox,
    ):
        work = Path(tmp)
        env = _environment(sandbox, work, args)
        codes = _order_codes(args.products, args.orders)
        progress("syncing the ordered products first, so push_orders can validate them ...")
        _checked(run_child(job_command("catalog_sync"), env | _only(codes), work / "pre.log"))
        _drop_orders(Path(env["HAIER_ORDER_INBOX"]), codes, "SHARED")
        sandbox.reset_stats()
        runs, launched = _run_together(env, work, args.delay)
        stats = sandbox.stats()
        db = Path(env["HAIER_DUCKDB_PATH"])
        report = _report(db, stats, runs, launched, args)
        progress("pushing as many orders again with nothing else running, for comparison ...")
        _drop_orders(Path(env["HAIER_ORDER_INBOX"]), codes, "ALONE")
        _checked(run_child(job_command("push_orders"), env, work / "alone.log"))
        alone = _push_times(db, "SO-BENCH-ALONE-%")
    report += (
        f"\n\npush_orders alone afterwards (nothing else running): last of {args.orders} orders "
        f"pushed {alone[-1]:.2f} s after its run's start, first {alone[0]:.2f} s."
    )
    print(
        f"shared budget: catalog_sync of {args.products:,} products x {args.counties} counties "
        f"at {args.rate_limit:g}/s and {args.latency_ms:g} ms, with {', '.join(SIDE_JOBS)} "
        f"({args.orders} orders) started {args.delay:g} s after it; {started_on} at start"
    )
    print(report)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = sync_parser(__doc__.split("\n\n")[0], products=2000)
    add = parser.add_argument
    add("--orders", type=int, default=20, help="order files to push (default 20)")
    add("--delay", type=float, default=15.0, help="seconds after the sync's launch (default 15)")
    return parser


def _environment(sandbox: SandboxProcess, work: Path, args: argparse.Namespace) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    data = work / "data"
    return (
        dict(os.environ)
        | sandbox.env
        | {
            "HAIER_COUNTY_CODES": ",".join(counties(args.counties)),
            "HAIER_RATE_LIMIT": f"{args.rate_limit:g}",
            "DAGSTER_HOME": str(home),
            "HAIER_DUCKDB_PATH": str(data / "haier.duckdb"),
            "HAIER_ORDER_INBOX": str(data / "orders" / "inbox"),
            "HAIER_CALLBACK_SPOOL": str(data / "callbacks"),
            "HAIER_BUDGET_DIR": str(work / "budget"),
        }
    )


def _only(codes: list[str]) -> dict[str, str]:
    return {"HAIER_PRODUCT_CODES": ",".join(codes), "HAIER_COUNTY_CODES": ORDER_COUNTY}


def _order_codes(products: int, orders: int) -> list[str]:
    """Procurable products with stock in ORDER_COUNTY, from the sandbox's own catalog."""
    catalog = generate_catalog(products, SEED)
    codes = [
        product.code
        for product in catalog.procurable
        if sum(level.qty for level in catalog.stock(product.code, ORDER_COUNTY)) >= 1
    ]
    if len(codes) < orders:
        raise BenchmarkError(f"only {len(codes)} stocked products for {orders} orders")
    return codes[:orders]


def _run_together(
    env: dict[str, str], work: Path, delay: float
) -> tuple[dict[str, ChildRun], dict[str, float]]:
    """The sync, then after ``delay`` the side jobs, all at once; returns runs and launch times."""
    launched: dict[str, float] = {}
    with concurrent.futures.ThreadPoolExecutor(1 + len(SIDE_JOBS)) as pool:

        def start(job: str) -> concurrent.futures.Future[ChildRun]:
            launched[job] = time.time()
            return pool.submit(run_child, job_command(job), env, work / f"{job}.log")

        progress("running catalog_sync ...")
        futures = {"catalog_sync": start("catalog_sync")}
        time.sleep(delay)
        progress(f"starting {', '.join(SIDE_JOBS)} ...")
        futures |= {job: start(job) for job in SIDE_JOBS}
        runs = {job: future.result() for job, future in futures.items()}
    for run in runs.values():
        _checked(run)
    return runs, launched


def _drop_orders(inbox: Path, codes: list[str], batch: str) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for index, code in enumerate(codes):
        order = make_order_dict(f"SO-BENCH-{batch}-{index:03d}", ((code, 1, "9.00"),))
        write_order_file(inbox, order)


def _pushes(db: Path, so_ids: str) -> list[tuple[float, float]]:
    """Per pushed order (soId LIKE ``so_ids``): seconds from its run's start, and epoch time."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT epoch(o.pushed_at - l.started_at), epoch(o.pushed_at) FROM orders o "
            "JOIN sync_log l ON l.sync_type = 'order' AND o.pushed_at "
            "  BETWEEN l.started_at AND l.completed_at "
            "WHERE o.status = 'pushed' AND o.so_id LIKE ? ORDER BY o.pushed_at",
            [so_ids],
        ).fetchall()


def _push_times(db: Path, so_ids: str) -> list[float]:
    return [seconds for seconds, _ in _pushes(db, so_ids)]


def _checked(run: ChildRun) -> ChildRun:
    if run.exit_code != 0:
        raise BenchmarkError(f"a job exited with {run.exit_code}:\n{tail(run.output)}")
    return run


def _report(
    db: Path,
    stats: dict[str, object],
    runs: dict[str, ChildRun],
    launched: dict[str, float],
    args: argparse.Namespace,
) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        sync_calls, sync_s = con.execute(
            "SELECT sum(api_calls), epoch(max(completed_at) - min(started_at)) FROM sync_log "
            "WHERE sync_type IN ('products', 'prices', 'stock') AND run_id = ("
            "  SELECT max_by(run_id, id) FROM sync_log WHERE sync_type = 'products')"
        ).fetchone() or (None, None)
        (push_calls,) = con.execute(
            "SELECT api_calls FROM sync_log WHERE sync_type = 'order'"
        ).fetchone() or (None,)
    pushes = _pushes(db, "SO-BENCH-SHARED-%")
    if len(pushes) != args.orders:
        raise BenchmarkError(f"{len(pushes)} of {args.orders} orders were pushed; see {db}")
    busiest = stats["busiest_second"]
    assert isinstance(busiest, dict)
    account = SandboxAccount()
    from_start = [seconds for seconds, _ in pushes]
    from_launch = [at - launched["push_orders"] for _, at in pushes]
    efficiency = sync_calls / args.rate_limit / sync_s
    rows = [
        ["busiest second at the gateway, JSH client_id", busiest.get(account.client_id, 0)],
        ["busiest second at the gateway, YLH client_id", busiest.get(account.ylh_client_id, 0)],
        ["429s sent", stats["sent_429"]],
        ["catalog_sync: its own calls", int(sync_calls)],
        ["catalog_sync: sync s", round(sync_s, 2)],
        ["catalog_sync: efficiency on its own calls", round(efficiency, 3)],
        ["push_orders: calls", int(push_calls)],
        ["order pushed, s from its run's start: first", round(from_start[0], 2)],
        ["order pushed, s from its run's start: last", round(from_start[-1], 2)],
        ["order pushed, s from process launch: last", round(from_launch[-1], 2)],
        ["push_orders process wall s", round(runs["push_orders"].wall_s, 2)],
    ]
    return markdown_table(("what", "value"), rows)


if __name__ == "__main__":
    run_benchmark(main)
