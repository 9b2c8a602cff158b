"""The catalog assets: ``products``, ``prices`` and ``stock``, materialized together.

One multi-asset, because the three tables are published in one transaction (analysts never
see products of today with prices of yesterday). The work itself is ``CatalogSync``; this
module only wires resources in and turns the result into what the Dagster UI shows.

A phase that failed (every call refused, say) records no materialization: the table keeps
its previous rows, so its freshness keeps counting from the last sync that refreshed it and
turns WARN, then FAIL, while syncs keep failing. The failure itself is the failed step, with
one line naming what to fix; the run goes red, which is what should wake a person. (An
observation or metadata on a successful run would leave the run green.)

The asset is partitioned by account: a run of one partition syncs that account; a run that
names none syncs every account side by side, and fails only once all have run, naming the
accounts that failed. Each account has its own client (credentials, gateway, call budget).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pydantic import Field

from haier_pipeline import environment as env
from haier_pipeline.accounts import Account, for_each_account
from haier_pipeline.catalog.sync import CatalogResult, CatalogSync, CatalogSyncFailed, PhaseReport
from haier_pipeline.dagster_defs.catalog.checks import CATALOG_CHECK_SPECS, evaluate_checks
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, table_spec
from haier_pipeline.dagster_defs.failures import describe, user_errors
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    CatalogScopeResource,
    HaierApiResource,
    WarehouseResource,
)
from haier_pipeline.listing import few
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK, Table
from haier_pipeline.storage.warehouse import Warehouse

CATALOG_GROUP = "catalog"
PREVIEW_ROWS = 5
_KINDS = frozenset({"duckdb", "python"})
_TABLES = (PRODUCTS, PRICES, STOCK)


class CatalogRefreshConfig(Config):
    """A targeted refresh from the Launchpad: "stock for these five models in Qingdao, now".

    Only the given keys are fetched and replaced; every other row stays as it is. Empty: the
    products and counties of HAIER_PRODUCT_CODES and HAIER_COUNTY_CODES (or of the account
    in the accounts file), a full sync."""

    product_codes: list[str] = Field(
        default_factory=list,
        description="Only these product codes (e.g. GA0SZC00U); empty: every product in scope.",
    )
    county_codes: list[str] = Field(
        default_factory=list,
        description="Only these 6-digit county codes (e.g. 370202); empty: HAIER_COUNTY_CODES.",
    )

    @property
    def targeted(self) -> bool:
        return bool(self.product_codes or self.county_codes)

    def products(self) -> list[str]:
        return _codes("product_codes", env.HAIER_PRODUCT_CODES, self.product_codes)

    def counties(self) -> list[str]:
        return _codes("county_codes", env.HAIER_COUNTY_CODES, self.county_codes)


def _codes(field: str, variable: env.Variable[list[str]], codes: list[str]) -> list[str]:
    """Checked as the variable of the same meaning is checked, named as the config field."""
    if not codes:
        return []
    try:
        return variable.parse(",".join(codes))
    except ValueError as problem:
        raise Failure(
            description=f"run config {field}=[{few(codes, quote=True)}] {problem}; fix it in "
            "the Launchpad.",
            allow_retries=False,
        ) from None


@multi_asset(
    name="catalog",
    specs=[
        # No deps among the three: they are one step, published in one transaction. (Dagster
        # 1.13 also cannot record data-version provenance of an in-step dep of a partitioned,
        # subsettable asset in a run that names no partition: DagsterInvariantViolationError.)
        table_spec(table, CATALOG_GROUP, [], DAILY_FRESHNESS, _KINDS)
        for table in (PRODUCTS, PRICES, STOCK)
    ],
    check_specs=CATALOG_CHECK_SPECS,
    can_subset=True,
)
def catalog(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
    haier: HaierApiResource,
    catalog_scope: CatalogScopeResource,
    duckdb_warehouse: WarehouseResource,
    haier_accounts: AccountsResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Extract products, prices and stock from Haier and publish them to DuckDB atomically,
    for the run's account, or for every account when the run names no partition."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    checks = context.selected_asset_check_keys
    if not selected:  # checks executed alone, from the UI
        yield from evaluate_checks(duckdb_warehouse.warehouse(), checks, refreshed=())
        return
    if selected != {table.name for table in _TABLES}:
        raise Failure(
            description="products, prices and stock are published together in one "
            "transaction; materialize all three (or launch catalog_sync).",
            allow_retries=False,
        )
    accounts = haier_accounts.for_run(context)
    if len(accounts) > 1:
        yield from _every_account(context, config, accounts, haier, catalog_scope, duckdb_warehouse)
        return
    [account] = accounts
    with (
        user_errors("catalog_sync"),
        duckdb_warehouse.for_run(context, "catalog_sync") as warehouse,
    ):
        try:
            result = _sync(context, config, account, haier, catalog_scope, warehouse)
        except CatalogSyncFailed as nothing:
            yield from evaluate_checks(warehouse, checks, refreshed=())
            raise _nothing_published(nothing) from (None if nothing.phase.needs_person else nothing)
        yield from _materializations({account.name: result}, warehouse)
        refreshed = [p.table.name for p in result.phases.values() if p.status != "failed"]
        yield from evaluate_checks(warehouse, checks, refreshed)
    failed = [p for p in result.phases.values() if p.status == "failed"]
    if failed:
        # The tables were published with the previous rows kept for what failed; the run
        # still goes red, because a whole sync type loading nothing needs a person.
        raise Failure(
            description=" ".join(p.problem(context.run.run_id) for p in failed),
            allow_retries=False,
        )


def _sync(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
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
            account=account,
            counties=config.counties() or catalog_scope.counties(account),
            product_codes=config.products() or catalog_scope.products(account),
            log=context.log,
            targeted=config.targeted,
        ).run()
        stats = client.stats
    context.log.info(
        f"{'' if account.from_environment else f'account {account.name}: '}"
        f"catalog {result.status}: {result.api_calls} calls in {result.sync_seconds:.1f} s "
        f"({stats.retries} retries, {stats.http_429} answered 429)"
    )
    return result


def _every_account(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
    accounts: list[Account],
    haier: HaierApiResource,
    catalog_scope: CatalogScopeResource,
    duckdb_warehouse: WarehouseResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Every account side by side; the run fails once all have run, naming the failed ones.

    A wrong password or a gateway that is down fails that account only: its tables keep
    their rows, every other account is synced and published as usual."""
    by_name = {account.name: account for account in accounts}
    with (
        user_errors("catalog_sync"),
        duckdb_warehouse.for_run(context, "catalog_sync") as warehouse,
    ):
        each = for_each_account(
            list(by_name),
            lambda name: _sync(context, config, by_name[name], haier, catalog_scope, warehouse),
        )
        yield from _materializations(each.done, warehouse)
        refreshed = {
            p.table.name
            for result in each.done.values()
            for p in result.phases.values()
            if p.status != "failed"
        }
        yield from evaluate_checks(warehouse, context.selected_asset_check_keys, list(refreshed))
    problems = {name: describe(name, error) for name, error in each.failed.items()}
    for name, result in each.done.items():
        failed = [
            p.problem(context.run.run_id) for p in result.phases.values() if p.status == "failed"
        ]
        if failed:
            problems[name] = f"{name}: {' '.join(failed)}"
    if problems:
        raise Failure(
            description=f"catalog_sync failed for account(s) {', '.join(sorted(problems))}; "
            + "; ".join(problems[name] for name in sorted(problems)),
            allow_retries=False,
        )


def _nothing_published(failed: CatalogSyncFailed) -> Failure:
    phase = failed.phase
    if phase.needs_person:
        line = phase.problem("", rejects_published=False)
    else:
        line = f"catalog_sync failed, tables unchanged: {failed}"
    return Failure(description=line, allow_retries=not phase.needs_person)


def _materializations(
    results: Mapping[str, CatalogResult], warehouse: Warehouse
) -> Iterator[MaterializeResult]:
    """A materialization for each table this run refreshed for some account; none for a
    table whose phase failed for every account. One account: its figures as they are;
    several: summed, with a table of each account's."""
    for table in _TABLES:
        phases = {
            name: phase
            for name, result in results.items()
            for phase in result.phases.values()
            if phase.table == table and phase.status != "failed"
        }
        if len(phases) == 1:
            [(name, phase)] = phases.items()
            yield MaterializeResult(
                asset_key=table.name, metadata=_metadata(phase, warehouse, name)
            )
        elif phases:
            yield MaterializeResult(asset_key=table.name, metadata=_summary(phases, warehouse))


def _summary(phases: Mapping[str, PhaseReport], warehouse: Warehouse) -> dict[str, Any]:
    """A table refreshed for several accounts in one run: totals, and each account's line."""
    lines = "".join(
        f"| {name} | {p.status} | {p.success} | {p.failed} | {p.calls} | {p.seconds:.1f} |\n"
        for name, p in phases.items()
    )
    first = next(iter(phases))
    return {
        "dagster/row_count": sum(p.rows for p in phases.values()),
        "records_loaded": sum(p.success for p in phases.values()),
        "records_failed": sum(p.failed for p in phases.values()),
        "api_calls": sum(p.calls for p in phases.values()),
        "accounts": MetadataValue.md(
            "| account | status | loaded | failed | calls | seconds |\n|---|---|---|---|---|---|\n"
            + lines
        ),
        "duckdb_path": MetadataValue.path(str(warehouse.path)),
        "preview": MetadataValue.md(_preview(warehouse, phases[first].table, first)),
    }


def _metadata(phase: PhaseReport, warehouse: Warehouse, account: str) -> dict[str, Any]:
    """Numbers stay numbers, so the asset's Plots tab shows their trend across runs."""
    return {
        "dagster/row_count": phase.rows,
        "sync_status": phase.status,
        "records_loaded": phase.success,
        "records_failed": phase.failed,
        "records_malformed": phase.malformed,
        "api_calls": phase.calls,
        "calls_per_s": round(phase.calls_per_s, 2),
        "retries": phase.retries,
        "http_429": phase.http_429,
        "duration_s": round(phase.seconds, 2),
        "account": account,
        "duckdb_path": MetadataValue.path(str(warehouse.path)),
        "preview": MetadataValue.md(_preview(warehouse, phase.table, account)),
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
