"""Sustained calls/s of the pipeline's client and loader with the server's rate limit lifted.

Haier allows 100 calls/s; the pipeline should manage several times that, so that it is never
the bottleneck. This starts the sandbox in its own process with no limit and no latency, runs
``CatalogSync`` (exactly what the ``catalog`` asset runs) in this process with a high
HAIER_RATE_LIMIT, and reports calls/s overall and in the stock phase (the sustained part),
with the CPU seconds each side spent: on a 2-core machine both the client and the sandbox are
Python, so the sum of their CPU time per second is what runs out.

``--profile`` runs the sync a second time under cProfile, one profiler per worker thread
counting that thread's CPU time (``time.thread_time``), and prints where the client's CPU
goes. Profiling slows the run, so its calls/s are not the measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    SandboxProcess,
    counties,
    machine,
    markdown_table,
    run_benchmark,
    self_cpu_seconds,
)

from haier_pipeline.catalog.sync import CatalogResult, CatalogSync
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.settings import JshSettings
from haier_pipeline.storage.warehouse import Warehouse

TARGET_CALLS_PER_S = 500
PROFILE_LINES = 30


@dataclass(frozen=True)
class Measurement:
    calls: int
    sync_s: float
    stock_calls: int
    stock_s: float
    client_cpu_s: float
    sandbox_cpu_s: float
    http_429: int

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.sync_s

    @property
    def stock_calls_per_s(self) -> float:
        return self.stock_calls / self.stock_s


class ThreadProfiles:
    """cProfile per thread (a Profile only sees the thread that enabled it), merged at the end."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._profiles: list[cProfile.Profile] = []

    def _profile(self) -> cProfile.Profile:
        profile = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self._profiles.append(profile)
        return profile

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        profile = self._profile()
        profile.enable()
        try:
            yield
        finally:
            profile.disable()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            with self.active():
                return fn(*args, **kwargs)

        return profiled

    def report(self, lines: int) -> str:
        out = io.StringIO()
        stats = pstats.Stats(*self._profiles, stream=out)
        stats.sort_stats("tottime").print_stats(lines)
        stats.sort_stats("cumulative").print_stats(lines)
        return out.getvalue()


def settings_from(env: dict[str, str], rate_limit: float) -> JshSettings:
    return JshSettings(
        base_url=env["HAIER_BASE_URL"],
        client_id=env["HAIER_CLIENT_ID"],
        client_secret=env["HAIER_CLIENT_SECRET"],
        customer_code=env["HAIER_CUSTOMER_CODE"],
        password=env["HAIER_PASSWORD"],
        send_to_code=env["HAIER_SEND_TO_CODE"],
        supplier_code=env["HAIER_SUPPLIER_CODE"],
        seller_password=env["HAIER_SELLER_PASSWORD"],
        customer_password=env["HAIER_CUSTOMER_PASSWORD"],
        rate_limit=rate_limit,
    )


def run_sync(
    sandbox: SandboxProcess,
    args: argparse.Namespace,
    workdir: Path,
    run_id: str,
    profiles: ThreadProfiles | None = None,
) -> Measurement:
    warehouse = Warehouse(workdir / run_id / "haier.duckdb")
    settings = settings_from(sandbox.env, args.client_rate_limit)
    with JshClient(settings, max_workers=args.workers) as client:
        if profiles is not None:
            for name in ("procurable_products", "prices", "stock"):
                setattr(client, name, profiles.wrap(getattr(client, name)))
        sync = CatalogSync(
            client,
            warehouse,
            run_id,
            counties=counties(args.counties),
        )
        sandbox.reset_stats()
        cpu_before, sandbox_before = self_cpu_seconds(), sandbox.cpu_seconds()
        with profiles.active() if profiles else contextlib.nullcontext():
            result: CatalogResult = sync.run()
        client_cpu = self_cpu_seconds() - cpu_before
        sandbox_cpu = sandbox.cpu_seconds() - sandbox_before
    stats = sandbox.stats()
    stock = result.phases["stock"]
    return Measurement(
        calls=int(stats["total_calls"]),
        sync_s=result.sync_seconds,
        stock_calls=stock.calls,
        stock_s=stock.seconds,
        client_cpu_s=client_cpu,
        sandbox_cpu_s=sandbox_cpu,
        http_429=int(stats["sent_429"]),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_on = machine()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    with (
        tempfile.TemporaryDirectory(prefix="haier-throughput-") as tmp,
        SandboxProcess(args.products, latency_ms=0, rate_limit=0) as sandbox,
    ):
        result = run_sync(sandbox, args, Path(tmp), "measured")
        profile_text = ""
        if args.profile:
            profiles = ThreadProfiles()
            run_sync(sandbox, args, Path(tmp), "profiled", profiles)
            profile_text = profiles.report(PROFILE_LINES)
    print(_report(args, result, started_on))
    if profile_text:
        print("\nclient CPU profile (profiled run, CPU time per thread):")
        print(profile_text)
    return 0


def _report(args: argparse.Namespace, m: Measurement, started_on: str) -> str:
    cores = os.cpu_count() or 1
    headers = ("what", "value")
    rows = [
        ("calls (sandbox count)", m.calls),
        ("sync s", m.sync_s),
        ("calls/s overall", m.calls_per_s),
        ("calls/s in the stock phase", m.stock_calls_per_s),
        ("429s", m.http_429),
        ("client CPU s (this process)", m.client_cpu_s),
        ("sandbox CPU s (its process)", m.sandbox_cpu_s),
        ("client CPU ms per call", 1000 * m.client_cpu_s / m.calls),
        ("sandbox CPU ms per call", 1000 * m.sandbox_cpu_s / m.calls),
        (
            f"CPU busy, of {cores} cores",
            f"{(m.client_cpu_s + m.sandbox_cpu_s) / (m.sync_s * cores):.0%}",
        ),
    ]
    verdict = "met" if m.calls_per_s >= TARGET_CALLS_PER_S else "MISSED"
    return (
        f"throughput, server limit lifted: {args.products} products x {args.counties} counties, "
        f"HAIER_RATE_LIMIT={args.client_rate_limit:g}, {args.workers} workers; "
        f"{started_on} at start\n"
        + markdown_table(headers, rows)
        + f"\ntarget >= {TARGET_CALLS_PER_S} calls/s overall: {verdict}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--products", type=int, default=5000, help="sandbox catalog size (default 5000)")
    add("--counties", type=int, default=3, help="counties to query stock for (default 3)")
    add("--client-rate-limit", type=float, default=5000.0, help="HAIER_RATE_LIMIT (default 5000)")
    add("--workers", type=int, default=32, help="calls in flight, as the job's max_workers (32)")
    add("--profile", action="store_true", help="also profile a second run with cProfile")
    return parser


if __name__ == "__main__":
    run_benchmark(main)
