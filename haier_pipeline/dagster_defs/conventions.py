"""What every domain's definitions share: Beijing time, freshness, tables as assets.

No owner is declared: an owner is a person or team a user can reach (an e-mail address or a
team of their Dagster+ organisation), which the project cannot know; a deployment that has
one adds it with ``map_asset_specs``."""

from datetime import timedelta

from dagster import (
    AssetsDefinition,
    AssetSpec,
    FreshnessPolicy,
    PartitionsDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    TableColumn,
    TableSchema,
)

from haier_pipeline.accounts import account_names, load_accounts
from haier_pipeline.storage.schema import Table

TIMEZONE = "Asia/Shanghai"
"""Haier, the shops and their customers all live on Beijing time; schedules do too."""

DAILY_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
)
"""Synced daily: older than a day and two hours warns, a day and a half fails."""


def column_schema(table: Table) -> TableSchema:
    """The columns with their DuckDB types (DECIMAL(18,2), TIMESTAMPTZ), as analysts see them,
    and the description each carries in the file itself (COMMENT ON): meaning, unit and
    Haier field, all from the one schema declaration."""
    return TableSchema(
        columns=[TableColumn(c.name, c.sql_type, description=c.description) for c in table.fields]
    )


def table_metadata(table: Table) -> dict[str, object]:
    """The metadata that shows a DuckDB table's columns and name on its asset page."""
    return {"dagster/column_schema": column_schema(table), "dagster/table_name": table.name}


def table_spec(
    table: Table,
    group: str,
    deps: list[str],
    freshness: FreshnessPolicy | None = None,
    kinds: frozenset[str] = frozenset({"duckdb"}),
) -> AssetSpec:
    """A DuckDB table as an asset of ``group``, described from its one schema declaration."""
    return AssetSpec(
        table.name,
        deps=deps,
        description=table.description,
        group_name=group,
        kinds=set(kinds),
        freshness_policy=freshness,
        metadata=table_metadata(table),
    )


def by_account(assets: AssetsDefinition, accounts: PartitionsDefinition) -> AssetsDefinition:
    """The assets partitioned by account (the partition key is the account's name), so each
    account's materializations, checks and freshness show apart in the UI."""
    return assets.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=accounts))


def one_run_per_account(context: ScheduleEvaluationContext) -> list[RunRequest]:
    """A schedule's tick: one run per account, so that one account's failure or slowness
    never holds another's up (and each shows apart in the UI)."""
    day = context.scheduled_execution_time.strftime("%Y-%m-%d %H:%M")
    return [
        RunRequest(run_key=f"{name} {day}", partition_key=name)
        for name in account_names(load_accounts())
    ]
