"""How close the call budget lets one catalog_sync come to the limit, as the gateway sees it.

The budget holds no more than ``rate`` calls within one second plus a headroom (see
``haier/budget.py``), and that headroom is paid in pace. This runs catalog_sync as users do
(``dagster job execute -m haier_pipeline -j catalog_sync``, its own DAGSTER_HOME and budget
folder) against the sandbox in its own process and reports, from the sandbox's own counts:

- the API span: first to last call arriving at the sandbox, against the floor
  ``(calls - 1) / limit``, the shortest span the limit allows; their ratio is the pace;
- the whole sync (sync_log, first start to tables published) against ``calls / limit``;
- the busiest second at the gateway and the 429s.

``--acquire-only SECONDS`` leaves out Dagster, HTTP and the sandbox: 32 threads of one process
only acquire from the budget for that long; the grants' span against the floor shows what the
budget itself costs when nothing else competes for the process (the busiest second then
counts grants, not arrivals).

``--pythonpath DIR`` runs the job with the package found in DIR first (e.g. an older checkout,
``git archive <commit> | tar -x -C DIR``), to compare budgets on the same machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from catalog_sync import DAGSTER_YAML, JOB_COMMAND, check_run, read_sync_log
from harness import (
    PYTHON,
    SandboxProcess,
    counties,
    machine,
    markdown_table,
    progress,
    run_benchmark,
    run_child,
    sync_parser,
)

from haier_pipeline.sandbox.auth import SandboxAccount

ACQUIRE_ONLY = """
import bisect, json, sys, tempfile, threading, time
from pathlib import Path
from haier_pipeline.haier.budget import FileBudget
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
with tempfile.TemporaryDirectory() as folder:
    budget = FileBudget(Path(folder) / "b", rate)
    grants, end = [], time.monotonic() + seconds
    def worker():
        while time.monotonic() < end:
            budget.acquire()
            grants.append(time.monotonic())
    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
grants.sort()
busiest = max(bisect.bisect_left(grants, t + 1.0) - i for i, t in enumerate(grants))
print(json.dumps({"grants": len(grants), "span": grants[-1] - grants[0], "busiest": busiest}))
"""


def acquire_only(args: argparse.Namespace, started_on: str) -> int:
    env = dict(os.environ) | ({"PYTHONPATH": args.pythonpath} if args.pythonpath else {})
    command = [PYTHON, "-c", ACQUIRE_ONLY, f"{args.rate_limit:g}", f"{args.acquire_only:g}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    floor = (result["grants"] - 1) / args.rate_limit
    rows = [
        ["grants", result["grants"]],
        ["span s (first to last grant)", round(result["span"], 2)],
        ["floor s, (grants - 1) / limit", round(floor, 2)],
        ["span efficiency (floor / span)", round(floor / result["span"], 4)],
        ["busiest second of grants", result["busiest"]],
    ]
    code = f", package from {args.pythonpath}" if args.pythonpath else ""
    print(
        f"budget pace, acquisitions only: 32 threads for {args.acquire_only:g} s at "
        f"{args.rate_limit:g}/s{code}; {started_on} at start"
    )
    print(markdown_table(("what", "value"), rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started_on = machine()
    if args.acquire_only:
        return acquire_only(args, started_on)
    with (
        tempfile.TemporaryDirectory(prefix="haier-bench-pace-") as tmp,
        SandboxProcess(args.products, args.latency_ms, args.rate_limit) as sandbox,
    ):
        work = Path(tmp)
        env = _environment(sandbox, work, args)
        sandbox.reset_stats()
        progress(f"running catalog_sync of {args.products:,} x {args.counties} ...")
        run = run_child(JOB_COMMAND, env, work / "job.log")
        check_run(run, "catalog_sync", work / "job.log")
        stats = sandbox.stats()
        log = read_sync_log(Path(env["HAIER_DUCKDB_PATH"]))
    client = SandboxAccount().client_id
    calls = int(stats["total_calls"])
    span = float(stats["arrival_span_s"][client])
    floor = (calls - 1) / args.rate_limit
    rows = [
        ["calls", calls],
        ["API span s (first to last arrival)", round(span, 2)],
        ["floor s, (calls - 1) / limit", round(floor, 2)],
        ["API span efficiency (floor / span)", round(floor / span, 3)],
        ["sync s (sync_log)", round(log.sync_s, 2)],
        [
            "sync efficiency (calls / limit / sync s)",
            round(calls / args.rate_limit / log.sync_s, 3),
        ],
        ["busiest second at the gateway", stats["busiest_second"][client]],
        ["429s", stats["sent_429"]],
    ]
    code = f", package from {args.pythonpath}" if args.pythonpath else ""
    print(
        f"budget pace: catalog_sync of {args.products:,} products x {args.counties} counties at "
        f"{args.rate_limit:g}/s, {args.latency_ms:g} ms{code}; {started_on} at start"
    )
    print(markdown_table(("what", "value"), rows))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = sync_parser(__doc__.split("\n\n")[0], products=10_000)
    add = parser.add_argument
    add("--pythonpath", default="", help="a folder whose haier_pipeline the job runs instead")
    add("--acquire-only", type=float, default=0, help="seconds of acquisitions only (see above)")
    return parser


def _environment(sandbox: SandboxProcess, work: Path, args: argparse.Namespace) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = dict(os.environ) | sandbox.env
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    return env | {
        "HAIER_COUNTY_CODES": ",".join(counties(args.counties)),
        "HAIER_RATE_LIMIT": f"{args.rate_limit:g}",
        "DAGSTER_HOME": str(home),
        "HAIER_DUCKDB_PATH": str(work / "data" / "haier.duckdb"),
        "HAIER_BUDGET_DIR": str(work / "budget"),
    }


if __name__ == "__main__":
    run_benchmark(main)
