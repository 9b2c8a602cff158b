"""Does the balance cover what Haier will debit? A warning before orders get refused."""

from decimal import Decimal

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from haier_pipeline.dagster_defs.finance.assets import account_balance
from haier_pipeline.dagster_defs.resources import BalancePolicyResource, WarehouseResource
from haier_pipeline.orders.balance import balance_problems
from haier_pipeline.storage import orders as db


@asset_check(
    asset=account_balance,
    name="balance_covers_pushed_orders",
    description="The latest balance of each sale group is at least HAIER_BALANCE_MIN, and the "
    "total covers the total_amt of orders pushed and not yet confirmed.",
)
def balance_covers_pushed_orders(
    duckdb_warehouse: WarehouseResource, balance_policy: BalancePolicyResource
) -> AssetCheckResult:
    minimum = balance_policy.minimum_amount()
    with duckdb_warehouse.warehouse().reading() as con:
        latest = db.latest_balances(con) if con else {}
        unconfirmed = db.unconfirmed_total(con) if con else Decimal(0)
    problems = balance_problems(latest, minimum, unconfirmed)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "total_balance": str(sum(latest.values(), Decimal(0))),
            "pushed_unconfirmed_total": str(unconfirmed),
            "minimum": str(minimum),
        },
    )


FINANCE_CHECKS = [balance_covers_pushed_orders]
