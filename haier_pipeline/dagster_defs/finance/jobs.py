"""balance_snapshot: record the payer balances and run their check."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from haier_pipeline.dagster_defs.finance.assets import account_balance

balance_snapshot = define_asset_job(
    "balance_snapshot",
    selection=AssetSelection.assets(account_balance),
    executor_def=in_process_executor,
    description="Record the payer account balances and check that they cover pushed orders.",
)

FINANCE_JOBS = [balance_snapshot]
