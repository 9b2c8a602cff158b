"""The catalog assets: ``products``, ``prices`` and ``stock``, partitioned by account.

One multi-asset, because the three tables are published in one transaction (analysts never
see products of today with prices of yesterday). The work itself is ``CatalogSync``; this
module only wires resources in and turns each account's result into what the UI shows.

**Every account, one run.** A run of one partition syncs that account. A run that names no
partition (``dagster job execute -j catalog_sync``, the Launchpad without a partition) syncs
every account side by side in one process, and records what each account did under that
account's partition: one ``AssetMaterialization(partition=account)`` per account and table,
with that account's row count, calls, failures and preview, and one check evaluation per
account and check. So each partition's status, latest materialization and checks are right
after it, exactly as after a run of that partition. (Dagster would stamp a
``MaterializeResult`` of a run without a partition as unpartitioned, which no partition
shows.) It stays one run rather than a backfill of one run per account because the contract
keeps ``dagster job execute -m haier_pipeline -j catalog_sync`` syncing every account, and
a backfill needs the daemon; selecting every partition in the UI does start a backfill, one
run per account, which records the same events.

A phase that failed (every call refused, say) records no materialization for that account:
its rows stay as they were, so the partition keeps showing its last sync, and the run goes
red with one line per account naming what to fix.

**A targeted refresh** (run config naming products or counties) replaces only those keys.
It records an ``AssetObservation`` per table and account saying what it refreshed, not a
materialization: the table as a whole was not synced, so its freshness keeps counting from
the last full sync, and the refresh still shows in the asset's events.
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetExecutionContext,
    AssetMaterialization,
    AssetObservation,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)
from pydantic import Field

from haier_pipeline import environment as env
from haier_pipeline.accounts import Account, for_each_account
from haier_pipeline.catalog.sync import CatalogResult, CatalogSync, CatalogSyncFailed, PhaseReport
from haier_pipeline.dagster_defs.catalog.checks import catalog_check_specs, verdicts
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, table_spec
from haier_pipeline.dagster_defs.failures import describe, user_errors
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    HaierApiResource,
    WarehouseResource,
    catalog_scope,
    checked,
)
from haier_pipeline.listing import few
from haier_pipeline.storage import unconfigured
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK, Table
from haier_pipeline.storage.warehouse import Warehouse

CATALOG_GROUP = "catalog"
PREVIEW_ROWS = 5
_KINDS = frozenset({"duckdb", "python"})
_TABLES = (PRODUCTS, PRICES, STOCK)
_DEPS = {PRODUCTS: [], PRICES: [PRODUCTS.name], STOCK: [PRODUCTS.name]}
"""Prices and stock are fetched for the products the products phase found."""

Event = MaterializeResult | AssetMaterialization | AssetObservation
CheckEvent = AssetCheckResult | AssetCheckEvaluation


class CatalogRefreshConfig(Config):
    """A targeted refresh from the Launchpad: "stock for these five models in Qingdao, now".

    Only the given keys are fetched and replaced; every other row stays as it is. Empty: the
    account's own products and counties (its ``product_codes`` and ``county_codes``, or
    HAIER_PRODUCT_CODES and HAIER_COUNTY_CODES without an accounts file), a full sync."""

    product_codes: list[str] = Field(
        default_factory=list,
        description="Only these product codes (e.g. GA0SZC00U); empty: the account's products.",
    )
    county_codes: list[str] = Field(
        default_factory=list,
        description="Only these 6-digit county codes (e.g. 370202); empty: the account's counties.",
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


def catalog_assets(accounts: PartitionsDefinition) -> AssetsDefinition:
    """The catalog multi-asset and its checks, partitioned by ``accounts``."""

    @multi_asset(
        name="catalog",
        specs=[
            table_spec(table, CATALOG_GROUP, _DEPS[table], DAILY_FRESHNESS, _KINDS)
            for table in _TABLES
        ],
        check_specs=catalog_check_specs(accounts),
        partitions_def=accounts,
        can_subset=True,
    )
    def catalog(
        context: AssetExecutionContext,
        config: CatalogRefreshConfig,
        haier: HaierApiResource,
        duckdb_warehouse: WarehouseResource,
        haier_accounts: AccountsResource,
    ) -> Iterator[Event | CheckEvent]:
        """Extract products, prices and stock from Haier and publish them to DuckDB
        atomically, for the run's account, or for every account when the run names none."""
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        if not selected:  # checks executed alone, from the UI
            yield from _checks_alone(context, duckdb_warehouse, haier_accounts)
            return
        if selected != {table.name for table in _TABLES}:
            raise Failure(
                description="products, prices and stock are published together in one "
                "transaction; materialize all three (or launch catalog_sync).",
                allow_retries=False,
            )
        with (
            user_errors("catalog_sync"),
            duckdb_warehouse.for_run(context, "catalog_sync") as warehouse,
        ):
            if context.has_partition_key or len(haier_accounts.names()) == 1:
                yield from _one_account(context, config, haier, haier_accounts, warehouse)
            else:
                yield from _every_account(context, config, haier, haier_accounts, warehouse)

    return catalog


def _one_account(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
    haier: HaierApiResource,
    haier_accounts: AccountsResource,
    warehouse: Warehouse,
) -> Iterator[Event | CheckEvent]:
    """The run's partition, or the only account: errors reach the UI as its one line."""
    name = context.partition_key if context.has_partition_key else haier_accounts.names()[0]
    try:
        [account] = haier_accounts.for_run(context)
        result = _sync(context, config, account, haier, warehouse)
    except Exception as error:
        yield from _checks(context, warehouse, name, [])
        if isinstance(error, CatalogSyncFailed):
            raise _nothing_published(error) from (None if error.phase.needs_person else error)
        raise
    ghosts = _unconfigured(context, haier_accounts, warehouse)
    for event in _events(name, result, warehouse, config, ghosts):
        yield _for_run_partition(context, event)
    refreshed = [p.table.name for p in result.phases.values() if p.status != "failed"]
    yield from _checks(context, warehouse, name, refreshed)
    failed = [p for p in result.phases.values() if p.status == "failed"]
    if failed:
        # The tables were published with the previous rows kept for what failed; the run
        # still goes red, because a whole sync type loading nothing needs a person.
        raise Failure(
            description=" ".join(p.problem(context.run.run_id) for p in failed),
            allow_retries=False,
        )


def _every_account(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
    haier: HaierApiResource,
    haier_accounts: AccountsResource,
    warehouse: Warehouse,
) -> Iterator[Event | CheckEvent]:
    """Every account side by side; the run fails once all have run, naming the failed ones.

    A wrong password, a secret variable that is not set or a gateway that is down fails that
    account only: its tables keep their rows, every other account is synced and published."""
    by_name = {account.name: account for account in haier_accounts.for_run(context)}
    each = for_each_account(
        list(by_name), lambda name: _sync(context, config, by_name[name], haier, warehouse)
    )
    ghosts = _unconfigured(context, haier_accounts, warehouse)
    for name, result in each.done.items():
        yield from _events(name, result, warehouse, config, ghosts)
    for name in by_name:
        phases = each.done[name].phases.values() if name in each.done else []
        refreshed = [p.table.name for p in phases if p.status != "failed"]
        yield from _checks(context, warehouse, name, refreshed)
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


def _sync(
    context: AssetExecutionContext,
    config: CatalogRefreshConfig,
    account: Account,
    haier: HaierApiResource,
    warehouse: Warehouse,
) -> CatalogResult:
    """One account's sync, with its own client (its credentials, its gateway, its budget)."""
    checked(account)
    counties, products = catalog_scope(account)
    with haier.client(account) as client:
        result = CatalogSync(
            client,
            warehouse,
            context.run.run_id,
            account=account,
            counties=config.counties() or counties,
            product_codes=config.products() or products,
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


def _nothing_published(failed: CatalogSyncFailed) -> Failure:
    phase = failed.phase
    if phase.needs_person:
        line = phase.problem("", rejects_published=False)
    else:
        line = f"catalog_sync failed, tables unchanged: {failed}"
    return Failure(description=line, allow_retries=not phase.needs_person)


def _unconfigured(
    context: AssetExecutionContext, haier_accounts: AccountsResource, warehouse: Warehouse
) -> str:
    """Rows of accounts the accounts file no longer names: a warning, and metadata on this
    run's events. They are left alone until `haier-pipeline purge-accounts --yes`."""
    found = unconfigured.unconfigured_rows(warehouse, haier_accounts.names())
    if not found:
        return ""
    line = unconfigured.describe(found)
    context.log.warning(
        f"the DuckDB file holds catalog rows of accounts that are not configured: {line}. "
        "They are kept (queries that do not filter by account still see them) until "
        "`haier-pipeline purge-accounts --yes` deletes them."
    )
    return line


def _events(
    name: str,
    result: CatalogResult,
    warehouse: Warehouse,
    config: CatalogRefreshConfig,
    ghosts: str,
) -> Iterator[AssetMaterialization | AssetObservation]:
    """What one account's sync did, under its partition: a materialization per table it
    refreshed in full; an observation per table a targeted refresh touched."""
    for phase in result.phases.values():
        if phase.status == "failed":
            continue
        metadata = _metadata(phase, warehouse, name)
        if ghosts:
            metadata["unconfigured_accounts"] = ghosts
        if config.targeted:
            yield AssetObservation(
                asset_key=phase.table.name,
                partition=name,
                description=f"targeted refresh of {_scope_text(config)}; not a full sync",
                metadata={
                    **{k: v for k, v in metadata.items() if k != "dagster/row_count"},
                    "refresh": "targeted",
                    "product_codes": ", ".join(config.product_codes) or "(the account's)",
                    "county_codes": ", ".join(config.county_codes) or "(the account's)",
                },
            )
        else:
            yield AssetMaterialization(
                asset_key=phase.table.name, partition=name, metadata=metadata
            )


def _for_run_partition(
    context: AssetExecutionContext, event: AssetMaterialization | AssetObservation
) -> Event:
    """In a run of one partition, a materialization goes through the asset's output (a
    MaterializeResult, which Dagster stamps with the run's partition and data version)."""
    if context.has_partition_key and isinstance(event, AssetMaterialization):
        return MaterializeResult(asset_key=event.asset_key, metadata=event.metadata)
    return event


def _checks(
    context: AssetExecutionContext, warehouse: Warehouse, account: str, refreshed: list[str]
) -> Iterator[CheckEvent]:
    """The selected checks of one account: a result Dagster stamps with the run's partition,
    or, in a run that names none, an evaluation stamped with the account's."""
    for verdict in verdicts(warehouse, context.selected_asset_check_keys, account, refreshed):
        if context.has_partition_key:
            yield verdict.result()
        else:
            yield verdict.evaluation(context.instance)


def _scope_text(config: CatalogRefreshConfig) -> str:
    parts = []
    if config.product_codes:
        parts.append(f"{len(config.product_codes)} product(s)")
    if config.county_codes:
        parts.append(f"{len(config.county_codes)} county(ies)")
    return " in ".join(parts)


def _checks_alone(
    context: AssetExecutionContext,
    duckdb_warehouse: WarehouseResource,
    haier_accounts: AccountsResource,
) -> Iterator[CheckEvent]:
    """Checks launched on their own from the UI: no Haier call, the published rows only."""
    warehouse = duckdb_warehouse.warehouse()
    names = [context.partition_key] if context.has_partition_key else haier_accounts.names()
    for name in names:
        yield from _checks(context, warehouse, name, [])


def _metadata(phase: PhaseReport, warehouse: Warehouse, account: str) -> dict[str, Any]:
    """This account's figures; numbers stay numbers, so the asset's plots show their trend
    (the row count is this account's rows, not the table's)."""
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
