"""The catalog assets: ``products``, ``prices`` and ``stock``, materialized together.

One multi-asset, because the three tables are published in one transaction (analysts never
see products of today with prices of yesterday). The work itself is ``CatalogSync``; this
module only wires resources in and turns the result into what the Dagster UI shows.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, multi_asset

from haier_pipeline.accounts import Account, for_each_account
from haier_pipeline.catalog.sync import CatalogResult, CatalogSync, PhaseReport
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, table_spec
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    CatalogScopeResource,
    HaierApiResource,
    WarehouseResource,
)
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK, Table
from haier_pipeline.storage.warehouse import Warehouse

CATALOG_GROUP = "catalog"
PREVIEW_ROWS = 5
_KINDS = frozenset({"duckdb", "python"})


@multi_asset(
    name="catalog",
    specs=[
        table_spec(PRODUCTS, CATALOG_GROUP, [], DAILY_FRESHNESS, _KINDS),
        table_spec(PRICES, CATALOG_GROUP, [PRODUCTS.name], DAILY_FRESHNESS, _KINDS),
        table_spec(STOCK, CATALOG_GROUP, [PRODUCTS.name], DAILY_FRESHNESS, _KINDS),
    ],
    can_subset=False,
)
def catalog(
    context: AssetExecutionContext,
    haier: HaierApiResource,
    catalog_scope: CatalogScopeResource,
    duckdb_warehouse: WarehouseResource,
    haier_accounts: AccountsResource,
) -> Iterator[MaterializeResult]:
    """Extract products, prices and stock from Haier and publish them to DuckDB atomically,
    for the run's account (its partition), or for every account side by side when the run
    names none. One account's failure neither stops nor delays another's."""
    accounts = haier_accounts.for_run(context)
    with duckdb_warehouse.for_run(context, "catalog_sync") as warehouse:
        if len(accounts) == 1:  # its errors reach the UI as they are
            [account] = accounts
            results = {account.name: _sync(context, account, haier, catalog_scope, warehouse)}
            failed: Mapping[str, BaseException] = {}
        else:
            by_name = {account.name: account for account in accounts}
            each = for_each_account(
                list(by_name),
                lambda name: _sync(context, by_name[name], haier, catalog_scope, warehouse),
            )
            results, failed = each.done, each.failed
    for table in (PRODUCTS, PRICES, STOCK):
        if results:
            phases = {name: _phase(result, table) for name, result in results.items()}
            yield MaterializeResult(asset_key=table.name, metadata=_metadata(phases, warehouse))
    _fail_if_any(context, results, failed, several=len(accounts) > 1)


def _sync(
    context: AssetExecutionContext,
    account: Account,
    haier: HaierApiResource,
    catalog_scope: CatalogScopeResource,
    warehouse: Warehouse,
) -> CatalogResult:
    """One account's sync, with its own client (its credentials, its gateway, its budget)."""
    with haier.client(account) as client:
        result = CatalogSync(
            client,
            warehouse,
            context.run.run_id,
            account=account.name,
            counties=catalog_scope.counties(account),
            product_codes=catalog_scope.products(account),
            log=context.log,
        ).run()
        stats = client.stats
    context.log.info(
        f"{'' if account.from_environment else f'account {account.name}: '}"
        f"catalog {result.status}: {result.api_calls} calls in {result.sync_seconds:.1f} s "
        f"({stats.retries} retries, {stats.http_429} answered 429)"
    )
    return result


def _fail_if_any(
    context: AssetExecutionContext,
    results: Mapping[str, CatalogResult],
    failed: Mapping[str, BaseException],
    *,
    several: bool,
) -> None:
    """Fail the run, once every account has run, naming what failed for which account.

    The tables were published with the previous rows kept for what failed, and every other
    account went through; the run still goes red, because a whole sync type (or a whole
    account) loading nothing needs a person.
    """
    problems = [f"{name}: {type(error).__name__}: {error}" for name, error in failed.items()]
    failing = list(failed)
    for name, result in results.items():
        phases = [p for p in result.phases.values() if p.status == "failed"]
        if phases:
            failing.append(name)
        problems += [
            f"{name + ': ' if several else ''}{p.sync_type}: {p.message(context.run.run_id)}"
            for p in phases
        ]
    if problems:
        prefix = f"catalog_sync failed for account(s) {', '.join(failing)}; " if several else ""
        raise Failure(description=prefix + "; ".join(problems), allow_retries=False)


def _phase(result: CatalogResult, table: Table) -> PhaseReport:
    [phase] = [p for p in result.phases.values() if p.table == table]
    return phase


def _metadata(phases: Mapping[str, PhaseReport], warehouse: Warehouse) -> dict[str, Any]:
    """What the UI shows of a table: its figures, per account when the run served several."""
    [(account, phase)] = phases.items() if len(phases) == 1 else [("", None)]
    if phase is not None:
        return {
            "dagster/row_count": phase.rows,
            "sync_status": phase.status,
            "records_loaded": phase.success,
            "records_failed": phase.failed,
            "records_malformed": phase.malformed,
            "api_calls": phase.calls,
            "duration_s": round(phase.seconds, 2),
            "account": account,
            "duckdb_path": MetadataValue.path(str(warehouse.path)),
            "preview": MetadataValue.md(_preview(warehouse, phase.table, account)),
        }
    table = next(iter(phases.values())).table
    rows = "".join(
        f"| {name} | {p.status} | {p.success} | {p.failed} | {p.calls} | {p.seconds:.1f} |\n"
        for name, p in phases.items()
    )
    return {
        "dagster/row_count": sum(p.rows for p in phases.values()),
        "accounts": MetadataValue.md(
            "| account | status | loaded | failed | calls | seconds |\n|---|---|---|---|---|---|\n"
            + rows
        ),
        "records_loaded": sum(p.success for p in phases.values()),
        "records_failed": sum(p.failed for p in phases.values()),
        "api_calls": sum(p.calls for p in phases.values()),
        "duckdb_path": MetadataValue.path(str(warehouse.path)),
        "preview": MetadataValue.md(_preview(warehouse, table, next(iter(phases)))),
    }


def _preview(warehouse: Warehouse, table: Table, account: str) -> str:
    names = table.column_names
    rows = warehouse.read(
        f"SELECT {', '.join(names)} FROM {table.name} WHERE account = ? "
        f"ORDER BY ALL LIMIT {PREVIEW_ROWS}",
        [account],
    )
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join("| " + " | ".join(_cell(v) for v in row) + " |\n" for row in rows)
    return header + body


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
