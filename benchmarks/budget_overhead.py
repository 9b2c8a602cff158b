"""What one call-budget acquisition costs, for each backend, in one process and with 8
processes contending; and what each backend does to a whole catalog_sync (``--sync``).

The rate is set so high (10^9/s) that nobody ever sleeps: what is left is the bookkeeping
every Haier call pays. Compared:

- ``file``: :class:`~haier_pipeline.haier.budget.FileBudget` on a file in a fresh temporary
  folder, a bulk acquisition (reserve, then check the claim list: two flock'd sections) and an
  order acquisition;
- ``postgres``: :class:`~haier_pipeline.haier.budget_postgres.PostgresBudget` on a private
  PostgreSQL 15 cluster on 127.0.0.1 (``haier_pipeline_tests/postgres.py``, fsync off as in
  the tests; the budget never waits for a disk flush anyway, autocommit or not, since a lost
  row only costs slots), bulk (two statements: reserve, send) and order (claim, send);
- ``sqlite``: one ``UPDATE ... RETURNING`` in a ``BEGIN IMMEDIATE`` transaction on a WAL
  database with ``synchronous=OFF`` (pyrate-limiter's multi-process bucket is built on SQLite);
- ``in-process lock``: the per-process pacer the file budget replaced, as a floor.

Contended: 8 processes start together (a barrier) and each does its acquisitions; reported are
the acquisitions per second all of them reached together (first start to last end) and the
50th and 99th percentile of one acquisition's wall time across all processes (8 processes
share 2 cores, so each waits for a CPU too).

``--sync``: a catalog_sync of 2,000 products x 3 counties at 100 calls/s (sandbox limit 100,
30 ms latency), run as users run it (``dagster job execute``), once with each backend: sync
time, efficiency against the floor (calls / limit), 429s and the sandbox's busiest second.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import catalog_sync
from harness import ROOT, SandboxProcess, machine, markdown_table, progress, run_benchmark

from haier_pipeline.haier.budget import FileBudget, Priority
from haier_pipeline.haier.budget_postgres import PostgresBudget

sys.path.insert(0, str(ROOT))  # the private PostgreSQL cluster of the tests
from haier_pipeline_tests.postgres import PostgresCluster, postgres_cluster

UNLIMITED = 1e9
URL_VARIABLE = "HAIER_BUDGET_URL"


def file_bulk(path: Path) -> Callable[[], None]:
    budget = FileBudget(path / "file.budget", UNLIMITED)
    return budget.acquire


def file_order(path: Path) -> Callable[[], None]:
    budget = FileBudget(path / "file.budget", UNLIMITED)
    return lambda: budget.acquire(Priority.ORDER)


def postgres_bulk(_: Path) -> Callable[[], None]:
    budget = PostgresBudget(os.environ[URL_VARIABLE], "bench-bulk", UNLIMITED)
    return budget.acquire


def postgres_order(_: Path) -> Callable[[], None]:
    budget = PostgresBudget(os.environ[URL_VARIABLE], "bench-order", UNLIMITED)
    return lambda: budget.acquire(Priority.ORDER)


def sqlite_reserve(path: Path) -> Callable[[], None]:
    con = sqlite3.connect(path / "budget.sqlite", isolation_level=None, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE IF NOT EXISTS budget (id INTEGER PRIMARY KEY, next_slot REAL)")
    con.execute("INSERT OR IGNORE INTO budget VALUES (1, 0)")
    interval = 1 / UNLIMITED

    def acquire() -> None:
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "UPDATE budget SET next_slot = max(next_slot, ?) + ? WHERE id = 1 RETURNING next_slot",
            (time.monotonic(), interval),
        ).fetchone()
        con.execute("COMMIT")

    return acquire


def in_process(_: Path) -> Callable[[], None]:
    lock = threading.Lock()
    state = [0.0]

    def acquire() -> None:
        with lock:
            slot = max(state[0], time.monotonic())
            state[0] = slot + 1 / UNLIMITED

    return acquire


KINDS: dict[str, Callable[[Path], Callable[[], None]]] = {
    "file + flock + mmap, bulk call": file_bulk,
    "file, order call": file_order,
    "postgres (one row, autocommit), bulk call": postgres_bulk,
    "postgres, order call": postgres_order,
    "sqlite (WAL, synchronous=OFF)": sqlite_reserve,
    "in-process lock (per process only)": in_process,
}


@dataclasses.dataclass(frozen=True)
class Span:
    """One process's acquisitions: when they began and ended (perf_counter, CLOCK_MONOTONIC)
    and how long each took."""

    began: float
    ended: float
    each_s: list[float]


def _run(kind: str, folder: str, calls: int, start: threading.Barrier | None) -> Span:
    acquire = KINDS[kind](Path(folder))
    acquire()  # opened, connected and warm
    if start is not None:
        start.wait()
    each: list[float] = []
    began = time.perf_counter()
    for _ in range(calls):
        before = time.perf_counter()
        acquire()
        each.append(time.perf_counter() - before)
    return Span(began, time.perf_counter(), each)


def _measure(kind: str, folder: str, calls: int, processes: int) -> list[object]:
    """acquisitions/s of all processes together, p50 and p99 µs of one acquisition."""
    if processes == 1:
        spans = [_run(kind, folder, calls, None)]
    else:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            start = manager.Barrier(processes)
            with context.Pool(processes) as pool:
                spans = pool.starmap(_run, [(kind, folder, calls, start)] * processes)
    together = max(s.ended for s in spans) - min(s.began for s in spans)
    each = sorted(t for s in spans for t in s.each_s)
    p50, p99 = (statistics.quantiles(each, n=100)[i] * 1e6 for i in (49, 98))
    return [f"{processes * calls / together:,.0f}", f"{p50:,.0f}", f"{p99:,.0f}"]


@contextmanager
def _fresh(kind: str, cluster: PostgresCluster) -> Iterator[str]:
    """A fresh folder and, for postgres, a fresh database at HAIER_BUDGET_URL (which the
    spawned processes inherit)."""
    with tempfile.TemporaryDirectory(prefix="haier-budget-bench-") as folder:
        if kind.startswith("postgres"):
            os.environ[URL_VARIABLE] = _new_database(cluster)
        try:
            yield folder
        finally:
            os.environ.pop(URL_VARIABLE, None)


def _new_database(cluster: PostgresCluster) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    cluster.create_database(name)
    return dataclasses.replace(cluster, database=name).url()


def _overhead(args: argparse.Namespace, cluster: PostgresCluster) -> str:
    rows = []
    for kind in KINDS:
        calls = args.pg_calls if kind.startswith("postgres") else args.calls
        row: list[object] = [kind, "no" if kind.startswith("in-process") else "yes", calls]
        for processes in (1, args.processes):
            progress(f"{kind}: {processes} process(es) ...")
            with _fresh(kind, cluster) as folder:
                row += _measure(kind, folder, calls, processes)
        rows.append(row)
    n = args.processes
    headers = ("budget", "shared by processes", "acquisitions per process",
               "acq/s, 1 process", "p50 µs", "p99 µs",
               f"acq/s, {n} processes", f"p50 µs, {n}", f"p99 µs, {n}")  # fmt: skip
    return markdown_table(headers, rows)


def _syncs(args: argparse.Namespace, cluster: PostgresCluster) -> str:
    rows = []
    for backend in ("file", "postgres"):
        with tempfile.TemporaryDirectory(prefix="haier-bench-sync-") as tmp:
            os.environ["HAIER_BUDGET_DIR"] = str(Path(tmp) / "budget")
            if backend == "postgres":
                os.environ[URL_VARIABLE] = _new_database(cluster)
            sync_args = catalog_sync._parser().parse_args(
                ["--products", str(args.products), "--counties", "3", "--baseline-products", "0"]
            )
            with SandboxProcess(sync_args.products, 30.0, 100.0) as sandbox:
                row, _ = catalog_sync._pipeline(sandbox, sync_args, 30.0, 100.0, Path(tmp))
                busiest = max(sandbox.stats()["busiest_second"].values())
            os.environ.pop(URL_VARIABLE, None)
        sizes = f"{args.products:,} x 3"
        rows.append([backend, sizes, row.calls, f"{row.floor_s:.2f}", f"{row.sync_s:.2f}",
                     f"{row.efficiency:.3f}", row.http_429, busiest])  # fmt: skip
        progress(f"catalog_sync with the {backend} budget done")
    headers = ("budget", "products x counties", "calls", "floor s", "sync s", "efficiency",
               "429s", "busiest second (limit 100)")  # fmt: skip
    return markdown_table(headers, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="acquisitions per process")
    parser.add_argument(
        "--pg-calls", type=int, default=2_000, help="acquisitions per process, postgres"
    )
    parser.add_argument("--processes", type=int, default=8, help="contending processes")
    parser.add_argument("--sync", action="store_true", help="also the catalog_sync per backend")
    parser.add_argument("--sync-only", action="store_true", help="only the catalog_sync")
    parser.add_argument("--products", type=int, default=2000, help="catalog size for --sync")
    args = parser.parse_args()
    started_on = machine()
    with postgres_cluster() as cluster:
        if not args.sync_only:
            print(f"budget acquisition overhead, rate 10^9/s (no waiting); {started_on} at start")
            print(_overhead(args, cluster))
        if args.sync or args.sync_only:
            print(f"\ncatalog_sync at 100/s, 30 ms latency, per backend; {machine()} at start")
            print(_syncs(args, cluster))
    return 0


if __name__ == "__main__":
    run_benchmark(main)
