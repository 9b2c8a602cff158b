"""What one call-budget acquisition costs, in one process and with 8 processes contending.

The rate is set so high (10^9/s) that nobody ever sleeps: what is left is the bookkeeping
every Haier call pays. Compared, each on a file in a fresh temporary folder:

- ``file (shipped)``: :class:`~haier_pipeline.haier.budget.FileBudget`, a bulk acquisition
  (reserve, then check the claim list: two flock'd sections) and an order acquisition (one);
- ``sqlite``: the same reservation as one ``UPDATE ... RETURNING`` in a ``BEGIN IMMEDIATE``
  transaction on a WAL database with ``synchronous=OFF``, the cheapest SQLite allows
  (pyrate-limiter's multi-process bucket is built on SQLite);
- ``in-process lock``: the per-process pacer this replaced (a threading.Lock), as a floor.

Contended: 8 processes start together (a barrier) and each does ``--calls`` acquisitions; the
figures are the mean wall time per acquisition in one process (8 processes share 2 cores, so
each waits for a CPU too), and the acquisitions per second all 8 reached together, from the
first start to the last end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness import machine, markdown_table

from haier_pipeline.haier.budget import FileBudget, Priority

UNLIMITED = 1e9


def file_bulk(path: Path) -> Callable[[], None]:
    budget = FileBudget(path / "file.budget", UNLIMITED)
    return budget.acquire


def file_order(path: Path) -> Callable[[], None]:
    budget = FileBudget(path / "file.budget", UNLIMITED)
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
    "file (shipped), bulk call": file_bulk,
    "file (shipped), order call": file_order,
    "sqlite (WAL, synchronous=OFF)": sqlite_reserve,
    "in-process lock (per process only)": in_process,
}


def _run(
    kind: str, folder: str, calls: int, start: threading.Barrier | None
) -> tuple[float, float]:
    """When this process's acquisitions began and ended (perf_counter: CLOCK_MONOTONIC)."""
    acquire = KINDS[kind](Path(folder))
    acquire()  # opened and warm
    if start is not None:
        start.wait()
    began = time.perf_counter()
    for _ in range(calls):
        acquire()
    return began, time.perf_counter()


def _contended(kind: str, folder: str, calls: int, processes: int) -> tuple[float, float]:
    """Mean µs per acquisition in one process, and acquisitions/s of all processes together."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            spans = pool.starmap(_run, [(kind, folder, calls, start)] * processes)
    each = statistics.mean(end - began for began, end in spans) / calls
    together = max(end for _, end in spans) - min(began for began, _ in spans)
    return each * 1e6, processes * calls / together


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="acquisitions per process")
    parser.add_argument("--processes", type=int, default=8, help="contending processes")
    args = parser.parse_args()
    started_on = machine()
    rows = []
    for kind in KINDS:
        with tempfile.TemporaryDirectory(prefix="haier-budget-bench-") as folder:
            began, ended = _run(kind, folder, args.calls, None)
        alone = (ended - began) / args.calls * 1e6
        with tempfile.TemporaryDirectory(prefix="haier-budget-bench-") as folder:
            contended, total = _contended(kind, folder, args.calls, args.processes)
        shared = "no" if kind.startswith("in-process") else "yes"
        rows.append([kind, shared, f"{alone:.1f}", f"{contended:.1f}", f"{total:,.0f}"])
    print(
        f"budget acquisition overhead, {args.calls:,} acquisitions per process, "
        f"{args.processes} contending processes; {started_on} at start"
    )
    headers = (
        "budget",
        "shared by processes",
        "µs, 1 process",
        f"µs each, {args.processes} processes",
        f"acquisitions/s, {args.processes} processes",
    )
    print(markdown_table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
