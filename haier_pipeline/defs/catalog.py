"""The catalog assets: ``products``, ``prices`` and ``stock``, materialized together.

One multi-asset, because the three tables are published in one transaction (analysts never
see products of today with prices of yesterday). The work itself is ``CatalogSync``; this
module only wires resources in and turns the result into what the Dagster UI shows.
"""

from collections.abc import Iterator
from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)

from haier_pipeline.catalog.sync import CatalogSync, PhaseReport
from haier_pipeline.defs.resources import CatalogScopeResource, HaierApiResource, WarehouseResource
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK, Table
from haier_pipeline.storage.warehouse import Warehouse

CATALOG_GROUP = "catalog"
OWNERS = ["team:haier-pipeline"]
# Synced daily; a catalog older than this is stale for pricing decisions.
CATALOG_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
)
PREVIEW_ROWS = 5


def column_schema(table: Table) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name, str(typ)) for name, typ in table.columns],
    )


def table_spec(table: Table, deps: list[str]) -> AssetSpec:
    return AssetSpec(
        table.name,
        deps=deps,
        description=table.description,
        group_name=CATALOG_GROUP,
        kinds={"duckdb", "python"},
        owners=OWNERS,
        freshness_policy=CATALOG_FRESHNESS,
        metadata={"dagster/column_schema": column_schema(table), "dagster/table_name": table.name},
    )


@multi_asset(
    name="catalog",
    specs=[
        table_spec(PRODUCTS, []),
        table_spec(PRICES, ["products"]),
        table_spec(STOCK, ["products"]),
    ],
    pool="haier_api",
    can_subset=False,
)
def catalog(
    context: AssetExecutionContext,
    haier: HaierApiResource,
    catalog_scope: CatalogScopeResource,
    duckdb_warehouse: WarehouseResource,
) -> Iterator[MaterializeResult]:
    """Extract products, prices and stock from Haier and publish them to DuckDB atomically."""
    warehouse = duckdb_warehouse.for_run(context, "catalog_sync")
    with haier.client() as client:
        result = CatalogSync(
            client,
            warehouse,
            context.run.run_id,
            counties=catalog_scope.counties(),
            product_codes=catalog_scope.products(),
            max_workers=haier.max_workers,
            log=context.log,
        ).run()
        stats = client.stats
    context.log.info(
        f"catalog {result.status}: {result.api_calls} calls in {result.sync_seconds:.1f} s "
        f"({stats.retries} retries, {stats.http_429} answered 429)"
    )
    for phase in result.phases.values():
        yield MaterializeResult(asset_key=phase.table.name, metadata=_metadata(phase, warehouse))
    failed = [p for p in result.phases.values() if p.status == "failed"]
    if failed:
        # The tables were published with the previous rows kept for what failed; the run
        # still goes red, because a whole sync type loading nothing needs a person.
        raise Failure(
            description="; ".join(
                f"{p.sync_type}: {p.message(context.run.run_id)}" for p in failed
            ),
            allow_retries=False,
        )


def _metadata(phase: PhaseReport, warehouse: Warehouse) -> dict[str, object]:
    return {
        "dagster/row_count": phase.rows,
        "sync_status": phase.status,
        "records_loaded": phase.success,
        "records_failed": phase.failed,
        "records_malformed": phase.malformed,
        "api_calls": phase.calls,
        "duration_s": round(phase.seconds, 2),
        "duckdb_path": MetadataValue.path(str(warehouse.path)),
        "preview": MetadataValue.md(_preview(warehouse, phase.table)),
    }


def _preview(warehouse: Warehouse, table: Table) -> str:
    names = table.column_names
    rows = warehouse.read(
        f"SELECT {', '.join(names)} FROM {table.name} ORDER BY ALL LIMIT {PREVIEW_ROWS}"
    )
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join("| " + " | ".join(_cell(v) for v in row) + " |\n" for row in rows)
    return header + body


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
