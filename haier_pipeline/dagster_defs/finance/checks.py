"""Does the balance cover what Haier will debit? A warning before orders get refused."""

from decimal import Decimal

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from haier_pipeline.dagster_defs.finance.assets import account_balance
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    BalancePolicyResource,
    WarehouseResource,
)
from haier_pipeline.orders.balance import balance_problems
from haier_pipeline.storage import orders as db


@asset_check(
    asset=account_balance,
    name="balance_covers_pushed_orders",
    description="For each account: the latest balance of each sale group is at least "
    "HAIER_BALANCE_MIN, and the total covers the total_amt of its orders pushed and not yet "
    "confirmed.",
)
def balance_covers_pushed_orders(
    duckdb_warehouse: WarehouseResource,
    balance_policy: BalancePolicyResource,
    haier_accounts: AccountsResource,
) -> AssetCheckResult:
    minimum = balance_policy.minimum_amount()
    names = haier_accounts.names()
    problems: list[str] = []
    total, pending = Decimal(0), Decimal(0)
    with duckdb_warehouse.warehouse().reading() as con:
        for name in names:  # each account's money is its own
            latest = db.latest_balances(con, name) if con else {}
            unconfirmed = db.unconfirmed_total(con, name) if con else Decimal(0)
            prefix = f"account {name}: " if len(names) > 1 else ""
            problems += [prefix + p for p in balance_problems(latest, minimum, unconfirmed)]
            total += sum(latest.values(), Decimal(0))
            pending += unconfirmed
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "total_balance": str(total),
            "pushed_unconfirmed_total": str(pending),
            "minimum": str(minimum),
        },
    )


FINANCE_CHECKS = [balance_covers_pushed_orders]
