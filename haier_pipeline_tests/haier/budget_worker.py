"""A separate process that calls the sandbox through the call budget, for the budget tests.

Run as ``python -m haier_pipeline_tests.haier.budget_worker``; reads one JSON job from stdin:

- ``{"mode": "calls", "settings": {...JshSettings...}, "calls": N, "threads": T,
  "priority": "bulk" | "order"}``: makes N balance calls (0: until killed) from T threads and
  prints one line per finished call, ``<start> <end>`` in CLOCK_MONOTONIC seconds, which every
  process on the machine shares, so the test can compare processes' times.
- ``{"mode": "hold-lock", "client_id": ...}``: takes the budget file's lock, prints ``locked``
  and sleeps, so a test can kill it inside the critical section.

``started`` is printed once the first call is done (or the lock taken).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sys
import threading
import time
from typing import Any

from haier_pipeline.haier.budget import budget_dir, budget_file, serving_orders
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

    def worker() -> None:
        context = serving_orders() if job["priority"] == "order" else contextlib.nullcontext()
        with context:
            while True:
                with take:
                    if next(tickets, None) is None:
                        return
                started = time.monotonic()
                client.balance()
                _say(f"{started!r} {time.monotonic()!r}")
                if not first.is_set():
                    first.set()
                    _say("started")

    threads = [threading.Thread(target=worker) for _ in range(job["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def hold_lock(job: dict[str, Any]) -> None:
    path = budget_file(budget_dir(), job["client_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _say("started")
    time.sleep(3600)


if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    {"calls": calls, "hold-lock": hold_lock}[job["mode"]](job)
