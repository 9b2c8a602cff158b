"""What the fault tests share: running catalog_sync, and reading back what a user would see.

A user sees three things after a run: the Dagster run status (and its error), the sync_log
rows, and the tables. The client's own count of calls and retries is in the run's log line
``catalog <status>: N calls in S s (R retries, K answered 429)``; the sandbox's count is the
truth it is compared with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dagster import DagsterRunStatus, ExecuteInProcessResult

from haier_pipeline.dagster_defs.resources import HaierApiResource
from haier_pipeline.sandbox import FaultConfig, SandboxCatalog
from haier_pipeline.sandbox.faults import Decision, FaultState
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_lines

CATALOG_TABLES = ("products", "prices", "stock")
_CLIENT_LINE = re.compile(
    r"catalog (?P<status>\w+): (?P<calls>\d+) calls in [\d.]+ s "
    r"\((?P<retries>\d+) retries, (?P<http_429>\d+) answered 429\)"
)

Rows = Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class SyncRow:
    """One sync_log row as the user reads it (a 'processing' row has no message yet: "")."""

    status: str
    total: int
    success: int
    failed: int
    message: str


@dataclass(frozen=True)
class ClientCount:
    """What the client counted, from its log line: attempts (token calls included), retries."""

    calls: int
    retries: int
    http_429: int


def run_catalog(
    pipeline: Pipeline, faults: FaultConfig | None = None, *, workers: int | None = 1
) -> ExecuteInProcessResult:
    """catalog_sync with these faults switched on, and the sandbox's counters reset first.

    ``workers=1`` makes calls one at a time, so the sandbox's seeded fault draws fall on the
    same calls in every run and the outcome is exact; ``None`` keeps the production setting.
    """
    sandbox = pipeline.sandbox
    sandbox.faults = faults or FaultConfig()
    sandbox.reset_stats()
    if workers is None:
        return pipeline.run("catalog_sync")
    # A new resource, not model_copy(): Dagster ignores fields changed on a copy.
    configured = HaierApiResource.from_env()
    fields = {name: getattr(configured, name) for name in HaierApiResource.model_fields}
    haier = HaierApiResource(**{**fields, "max_workers": workers})
    return pipeline.run("catalog_sync", resources={"haier": haier})


def run_status(pipeline: Pipeline, run_id: str) -> DagsterRunStatus:
    run = pipeline.instance.get_run_by_id(run_id)
    assert run is not None, f"Dagster does not know run {run_id}"
    return run.status


def failure_message(result: ExecuteInProcessResult) -> str:
    """The error a user reads on the failed step in the Dagster UI, causes included."""
    assert any(e.is_step_failure for e in result.all_events), "the run has no failed step"
    return "\n".join(failure_lines(result))


def sync_log(pipeline: Pipeline, run_id: str) -> dict[str, SyncRow]:
    rows = pipeline.rows(
        "SELECT sync_type, status, total_count, success_count, failed_count, message "
        "FROM sync_log WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    return {
        sync_type: SyncRow(status, total, success, failed, message or "")
        for sync_type, status, total, success, failed, message in rows
    }


def client_count(pipeline: Pipeline, run_id: str) -> ClientCount:
    for record in pipeline.instance.all_logs(run_id):
        match = _CLIENT_LINE.search(record.user_message or "")
        if match:
            return ClientCount(int(match["calls"]), int(match["retries"]), int(match["http_429"]))
    raise AssertionError(f"run {run_id} logged no 'catalog <status>: N calls' line")


def expected_catalog(
    catalog: SandboxCatalog, counties: Iterable[str], without: Iterable[str] = ()
) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """The tables a correct sync of this sandbox holds, by key (``synced_at`` left out)."""
    skip = set(without)
    procurable = [p for p in catalog.procurable if p.code not in skip]
    return {
        "products": {
            p.code: (p.model, p.group, p.brand, p.image_url, p.leaflet_urls, True)
            for p in procurable
        },
        "prices": {
            p.code: (p.supply_price, p.invoice_price, p.discount_rate, p.rebate_money)
            if p.has_price
            else (None, None)
            for p in procurable
        },
        "stock": {
            (p.code, county): (sum(level.qty for level in catalog.stock(p.code, county)),)
            for p in procurable
            for county in counties
        },
    }


def loaded_catalog(rows: Rows) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """The published tables in the shape of :func:`expected_catalog`."""
    products = rows(
        "SELECT product_code, product_model, product_group, brand, image_url, leaflet_urls, "
        "is_procurable FROM products"
    )
    prices = rows(
        "SELECT product_code, supply_price, invoice_price, direct_discount_rate, rebate_money "
        "FROM prices"
    )
    stock = rows("SELECT product_code, county_code, stock_qty FROM stock")
    return {
        "products": {code: tuple(rest) for code, *rest in products},
        "prices": {
            code: (supply, invoice, rate, rebate) if supply is not None else (None, invoice)
            for code, supply, invoice, rate, rebate in prices
        },
        "stock": {(code, county): (qty,) for code, county, qty in stock},
    }


def snapshot(rows: Rows) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the catalog tables, ``synced_at`` included: equal means untouched."""
    return {table: rows(f"SELECT * FROM {table} ORDER BY ALL") for table in CATALOG_TABLES}


def retried_fault(decision: Decision) -> bool:
    """A fault the client answers with a retry (token revocation is answered by re-login)."""
    return (
        decision.drop
        or decision.burst_429
        or decision.server_error is not None
        or decision.html
        or decision.slow
    )


def longest_fault_run(config: FaultConfig, calls: int) -> int:
    """Most retried faults in a row among the sandbox's first ``calls`` draws for this config.

    Fewer than 4 in a row means no call can exhaust 3 retries while calls go one at a time.
    """
    state, longest, current = FaultState(config), 0, 0
    for _ in range(calls):
        current = current + 1 if retried_fault(state.decide()) else 0
        longest = max(longest, current)
    return longest
