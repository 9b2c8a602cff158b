"""The account_balance asset: payer balances appended once per snapshot (JSH 2.5)."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, OWNERS, table_metadata
from haier_pipeline.dagster_defs.failures import user_errors
from haier_pipeline.dagster_defs.resources import HaierApiResource, WarehouseResource
from haier_pipeline.orders.balance import snapshot_balance
from haier_pipeline.storage.schema import ACCOUNT_BALANCE

FINANCE_GROUP = "finance"


@asset(
    name=ACCOUNT_BALANCE.name,
    group_name=FINANCE_GROUP,
    description=ACCOUNT_BALANCE.description,
    kinds={"duckdb", "python"},
    owners=OWNERS,
    freshness_policy=DAILY_FRESHNESS,
    metadata=table_metadata(ACCOUNT_BALANCE),
)
def account_balance(
    context: AssetExecutionContext, haier: HaierApiResource, duckdb_warehouse: WarehouseResource
) -> MaterializeResult:
    """Append the payer account balances of every sale group (JSH 2.5)."""
    with (
        user_errors("balance_snapshot"),
        duckdb_warehouse.for_run(context, "balance_snapshot") as warehouse,
        haier.client() as jsh,
    ):
        snapshot = snapshot_balance(jsh, warehouse, context.run.run_id)
    rows = "".join(f"| {group} | {amount} |\n" for group, amount in snapshot.balances.items())
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(snapshot.balances),
            "fetched_at": snapshot.fetched_at.isoformat(),
            "malformed_records": snapshot.malformed,
            "balances": MetadataValue.md("| sale group | balance |\n|---|---|\n" + rows),
        }
    )


FINANCE_ASSETS = [account_balance]
