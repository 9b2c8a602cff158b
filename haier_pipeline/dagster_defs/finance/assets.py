"""The account_balance asset: payer balances appended once per snapshot (JSH 2.5)."""

from collections.abc import Mapping

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from haier_pipeline.accounts import for_each_account
from haier_pipeline.dagster_defs.conventions import DAILY_FRESHNESS, table_metadata
from haier_pipeline.dagster_defs.failures import describe, user_errors
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    HaierApiResource,
    WarehouseResource,
)
from haier_pipeline.orders.balance import BalanceSnapshot, snapshot_balance
from haier_pipeline.storage.schema import ACCOUNT_BALANCE

FINANCE_GROUP = "finance"


@asset(
    name=ACCOUNT_BALANCE.name,
    group_name=FINANCE_GROUP,
    description=ACCOUNT_BALANCE.description,
    kinds={"duckdb", "python"},
    freshness_policy=DAILY_FRESHNESS,
    metadata=table_metadata(ACCOUNT_BALANCE),
)
def account_balance(
    context: AssetExecutionContext,
    haier: HaierApiResource,
    duckdb_warehouse: WarehouseResource,
    haier_accounts: AccountsResource,
) -> MaterializeResult:
    """Append the payer account balances of every sale group (JSH 2.5), for the run's account
    (its partition) or for every account when the run names none."""
    accounts = {account.name: account for account in haier_accounts.for_run(context)}
    with (
        user_errors("balance_snapshot"),
        duckdb_warehouse.for_run(context, "balance_snapshot") as warehouse,
    ):

        def snapshot(name: str) -> BalanceSnapshot:
            with haier.client(accounts[name]) as jsh:
                return snapshot_balance(jsh, warehouse, context.run.run_id, name)

        if len(accounts) == 1:  # its errors reach the UI as they always did
            [name] = accounts
            snapshots: Mapping[str, BalanceSnapshot] = {name: snapshot(name)}
        else:
            each = for_each_account(list(accounts), snapshot)
            if each.failed:
                reasons = "; ".join(describe(n, e) for n, e in each.failed.items())
                raise Failure(
                    description=f"balance_snapshot failed for account(s) "
                    f"{', '.join(each.failed)}; {reasons}",
                    allow_retries=False,
                )
            snapshots = each.done
    rows = "".join(
        f"| {name} | {group} | {amount} |\n"
        for name, taken in snapshots.items()
        for group, amount in taken.balances.items()
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(len(s.balances) for s in snapshots.values()),
            "fetched_at": max(s.fetched_at for s in snapshots.values()).isoformat(),
            "malformed_records": sum(s.malformed for s in snapshots.values()),
            "balances": MetadataValue.md(
                "| account | sale group | balance |\n|---|---|---|\n" + rows
            ),
        }
    )


FINANCE_ASSETS = [account_balance]
