"""The catalog assets: ``products``, ``prices`` and ``stock``, materialized together.

One multi-asset, because the three tables are published in one transaction (analysts never
see products of today with prices of yesterday). The work itself is ``CatalogSync``; this
module only wires resources in and turns the result into what the Dagster UI shows.
"""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, multi_asset

from haier_pipeline.catalog.sync import CatalogSync, PhaseReport
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, table_spec
from haier_pipeline.dagster_defs.resources import (
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
    with (
        duckdb_warehouse.for_run(context, "catalog_sync") as warehouse,
        haier.client() as client,
    ):
        result = CatalogSync(
            client,
            warehouse,
            context.run.run_id,
            counties=catalog_scope.counties(),
            product_codes=catalog_scope.products(),
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


def _metadata(phase: PhaseReport, warehouse: Warehouse) -> dict[str, Any]:
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
