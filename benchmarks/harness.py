"""What every benchmark needs: a sandbox in its own process, and a child measured by wait4.

The sandbox and the pipeline must not share a process: both are Python, and on one GIL the
sandbox's work would be billed to the client. So the sandbox runs as users start it
(``python -m haier_pipeline.sandbox``), and the program under test runs as another child
whose wall time and peak RSS come from the kernel (``os.wait4``), not from its own report.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Self

import requests

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
READY_TIMEOUT_S = 120.0  # a 100,000-product catalog takes a few seconds to build
ADMIN_TIMEOUT_S = 30.0
# Real GB/T 2260 county codes; the first three are the sandbox's defaults.
COUNTY_POOL = ("110101", "320106", "370202", "440106", "310115", "510107", "330106", "420106")


class BenchmarkError(RuntimeError):
    """A run did not do what the benchmark measures; the message says what went wrong."""


def counties(n: int) -> list[str]:
    if not 1 <= n <= len(COUNTY_POOL):
        raise BenchmarkError(f"--counties is {n}; use 1 to {len(COUNTY_POOL)}")
    return list(COUNTY_POOL[:n])


class SandboxProcess:
    """``python -m haier_pipeline.sandbox`` on a free port; stopped with Ctrl-C on exit.

    ``client_id``: the sandbox's account has this client_id (``account_sandbox.py``).
    """

    def __init__(
        self, products: int, latency_ms: float, rate_limit: float, client_id: str | None = None
    ) -> None:
        self.program = ["-m", "haier_pipeline.sandbox"]
        if client_id is not None:
            self.program = [str(Path(__file__).with_name("account_sandbox.py"))]
            self.program += ["--client-id", client_id]
        self.args = [
            "--port",
            "0",
            "--products",
            str(products),
            "--latency-ms",
            f"{latency_ms:g}",
            "--rate-limit",
            f"{rate_limit:g}",
        ]
        self.env: dict[str, str] = {}
        self._process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return self.env["HAIER_BASE_URL"]

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Self:
        command = [PYTHON, *self.program, *self.args]
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        # readline() has no timeout; a sandbox that never announces itself is killed instead.
        watchdog = threading.Timer(READY_TIMEOUT_S, self._process.kill)
        watchdog.start()
        try:
            self.env = self._read_announcement(command)
        except BaseException:
            self.__exit__()
            raise
        finally:
            watchdog.cancel()
        self.stats()  # it answers: listening, not just announced
        return self

    def _read_announcement(self, command: Sequence[str]) -> dict[str, str]:
        assert self._process is not None and self._process.stdout is not None
        env: dict[str, str] = {}
        for line in self._process.stdout:
            if line.startswith("Ctrl-C"):
                return env
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                env[name] = shlex.split(value)[0] if value else ""
        raise BenchmarkError(
            f"the sandbox ({shlex.join(command)}) exited before it was ready "
            f"(exit code {self._process.wait()}); its error is printed above"
        )

    def __exit__(self, *_exc: object) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.base_url}/_sandbox/stats", timeout=ADMIN_TIMEOUT_S)
        answer.raise_for_status()
        return answer.json()

    def reset_stats(self) -> None:
        answer = requests.post(f"{self.base_url}/_sandbox/reset-stats", timeout=ADMIN_TIMEOUT_S)
        answer.raise_for_status()

    def cpu_seconds(self) -> float:
        """User + system CPU the sandbox process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, wall time, peak RSS, CPU time, its output."""

    exit_code: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    output: str


def run_child(
    command: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path = ROOT
) -> ChildRun:
    """Run ``command`` to the end; its peak RSS is the kernel's ru_maxrss for that child."""
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return ChildRun(
        exit_code=process.returncode,
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        cpu_s=usage.ru_utime + usage.ru_stime,
        output=log_path.read_text(encoding="utf-8", errors="replace"),
    )


def machine() -> str:
    """Cores and load: other work on a 2-core machine shows up in every figure measured."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPU(s), load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def progress(message: str) -> None:
    """A line for the person watching, on stderr, so stdout keeps only the figures."""
    print(message, file=sys.stderr, flush=True)


def run_benchmark(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main``'s code; a BenchmarkError is one line on stderr and exit code 1."""
    try:
        raise SystemExit(main())
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub table; right-aligned numbers read better in a terminal too."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([lines[0], rule, *lines[1:]])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def sync_parser(description: str, products: int) -> argparse.ArgumentParser:
    """The options every catalog_sync benchmark takes: the sandbox's size, latency and limit."""
    parser = argparse.ArgumentParser(description=description)
    add = parser.add_argument
    add("--products", type=int, default=products, help=f"sandbox catalog size (default {products})")
    add("--counties", type=int, default=3, help="counties to sync stock for (default 3)")
    add("--latency-ms", type=float, default=30.0, help="sandbox latency per call (default 30)")
    add("--rate-limit", type=float, default=100.0, help="sandbox and client limit (default 100)")
    return parser
