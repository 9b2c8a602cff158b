"""A separate process that calls the sandbox through the call budget, for the budget tests.

Run as ``python -m haier_pipeline_tests.haier.budget_worker``; reads one JSON job from stdin:

- ``{"mode": "calls", "settings": {...JshSettings...}, "calls": N, "threads": T,
  "priority": "bulk" | "order"}``: makes N balance calls (0: until killed) from T threads and
  prints one line per finished call, ``<start> <end>`` in CLOCK_MONOTONIC seconds, which every
  process on the machine shares, so the test can compare processes' times.
- ``{"mode": "hold-lock", "client_id": ...}``: takes the budget file's lock, prints ``locked``
  and sleeps, so a test can kill it inside the critical section.

``started`` is printed once the first call is done (or the lock taken). A budget that refuses
(BudgetUnavailable) ends the worker with exit code 3 and its one line on stderr, as a job
shows it.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import sys
import threading
import time
from typing import Any

from haier_pipeline.haier.budget import budget_dir, budget_file, serving_orders
from haier_pipeline.haier.budget_store import BudgetUnavailable, open_budget_file
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.settings import JshSettings

_PRINT = threading.Lock()


def _say(line: str) -> None:
    with _PRINT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def calls(job: dict[str, Any]) -> None:
    client = JshClient(JshSettings(**job["settings"]), max_workers=job["threads"])
    tickets = itertools.count() if job["calls"] == 0 else iter(range(job["calls"]))
    take = threading.Lock()
    first = threading.Event()
    refusals: list[BudgetUnavailable] = []

    def worker() -> None:
        context = serving_orders() if job["priority"] == "order" else contextlib.nullcontext()
        with context:
            while not refusals:
                with take:
                    if next(tickets, None) is None:
                        return
                started = time.monotonic()
                try:
                    client.balance()
                except BudgetUnavailable as refused:
                    refusals.append(refused)
                    return
                _say(f"{started!r} {time.monotonic()!r}")
                if not first.is_set():
                    first.set()
                    _say("started")

    threads = [threading.Thread(target=worker) for _ in range(job["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refusals:
        raise refusals[0]


def hold_lock(job: dict[str, Any]) -> None:
    fd = open_budget_file(budget_file(budget_dir(), job["client_id"]))
    fcntl.flock(fd, fcntl.LOCK_EX)
    _say("started")
    time.sleep(3600)


def main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        {"calls": calls, "hold-lock": hold_lock}[job["mode"]](job)
    except BudgetUnavailable as refused:
        sys.stderr.write(f"{refused}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
