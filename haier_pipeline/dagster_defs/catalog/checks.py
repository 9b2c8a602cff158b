"""Asset checks for what analysts rely on in the published catalog, one result per account.

Each check is one SQL query that counts one account's offending rows in the file analysts
read, so a failed check shows the count and a few example keys in the UI, and anyone can
rerun the query.

The checks are partitioned like the catalog (``AssetCheckSpec(partitions_def=...)``, a
preview feature of Dagster 1.13 that the Checks tab shows per partition): each account has
its own result, and one account's failure never hides behind another's pass. A run of one
account records its result through ``AssetCheckResult``, which Dagster stamps with the run's
partition; a run of every account records one ``AssetCheckEvaluation`` per account, stamped
with that account's partition and pointing at that partition's latest materialization.

The checks are declared on the ``catalog`` multi-asset and evaluated by it after every sync,
failed or not: a check planned in a failed run and never evaluated shows as "Execution
failed", and Dagster has no way to declare a check skippable (dagster-io/dagster#28461). A
refused phase publishes nothing new, so the honest result is the check evaluated against the
rows analysts still read; its description then says that the table was not refreshed. A
check can also be executed alone from the UI.
"""

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    PartitionsDefinition,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from haier_pipeline.storage.warehouse import Warehouse

EXAMPLES = 5


@dataclass(frozen=True)
class RowRule:
    """Rows returned by ``sql`` (one parameter: the account) break the rule; the first
    column names the offending record."""

    asset: str
    name: str
    description: str
    sql: str
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR

    @property
    def key(self) -> AssetCheckKey:
        return AssetCheckKey(AssetKey(self.asset), self.name)


RULES = (
    RowRule(
        "products",
        "products_unique_code",
        "Every product_code appears once per account.",
        "SELECT product_code FROM products WHERE account = ? GROUP BY product_code "
        "HAVING count(*) > 1",
    ),
    RowRule(
        "prices",
        "prices_unique_code",
        "Every product_code has at most one price per account.",
        "SELECT product_code FROM prices WHERE account = ? GROUP BY product_code "
        "HAVING count(*) > 1",
    ),
    RowRule(
        "stock",
        "stock_unique_product_county",
        "Every (product_code, county_code) appears once per account.",
        "SELECT product_code || '@' || county_code FROM stock WHERE account = ? "
        "GROUP BY product_code, county_code HAVING count(*) > 1",
    ),
    RowRule(
        "stock",
        "stock_not_negative",
        "No stock quantity below zero.",
        "SELECT product_code || '@' || county_code FROM stock WHERE account = ? AND stock_qty < 0",
    ),
    RowRule(
        "prices",
        "invoice_price_formula",
        "invoice_price = supply_price × (1 − direct_discount_rate) − rebate_money, within a cent.",
        "SELECT product_code FROM prices WHERE account = ? AND supply_price IS NOT NULL AND "
        "invoice_price IS NOT NULL AND abs(invoice_price - (supply_price * (1 - "
        "coalesce(direct_discount_rate, 0)) - coalesce(rebate_money, 0))) > 0.01",
    ),
    RowRule(
        "prices",
        "procurable_products_priced_or_explained",
        "Every procurable product has a supply price or a note saying why not.",
        "SELECT p.product_code FROM products p LEFT JOIN prices r USING (account, product_code) "
        "WHERE p.account = ? AND p.is_procurable AND r.supply_price IS NULL "
        "AND coalesce(r.price_note, '') = ''",
        AssetCheckSeverity.WARN,
    ),
)


def catalog_check_specs(accounts: PartitionsDefinition) -> list[AssetCheckSpec]:
    """The checks, partitioned by account like the catalog itself."""
    return [
        AssetCheckSpec(
            rule.name, asset=rule.asset, description=rule.description, partitions_def=accounts
        )
        for rule in RULES
    ]


@dataclass(frozen=True)
class Verdict:
    """One rule's outcome for one account."""

    rule: RowRule
    account: str
    offenders: list[str]
    refreshed: bool

    @property
    def description(self) -> str | None:
        if self.refreshed:
            return None
        return f"{self.rule.asset} was not refreshed by this run; checked the rows analysts read"

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "offending_rows": len(self.offenders),
            "examples": ", ".join(self.offenders[:EXAMPLES]),
            "table_refreshed": self.refreshed,
        }

    def result(self) -> AssetCheckResult:
        """For a run of this one account (Dagster adds the run's partition)."""
        return AssetCheckResult(
            asset_key=self.rule.asset,
            check_name=self.rule.name,
            passed=not self.offenders,
            severity=self.rule.severity,
            description=self.description,
            metadata=self.metadata,
        )

    def evaluation(self, instance: DagsterInstance) -> AssetCheckEvaluation:
        """For a run of several accounts: stamped with this account's partition, and
        pointing at this partition's latest materialization, as Dagster does for a run of
        one partition."""
        return AssetCheckEvaluation(
            asset_key=self.rule.key.asset_key,
            check_name=self.rule.name,
            passed=not self.offenders,
            metadata=self.metadata,
            target_materialization_data=_latest(instance, self.rule.key.asset_key, self.account),
            severity=self.rule.severity,
            description=self.description,
            blocking=False,
            partition=self.account,
        )


def verdicts(
    warehouse: Warehouse,
    selected: Collection[AssetCheckKey],
    account: str,
    refreshed: Collection[str],
) -> Iterator[Verdict]:
    """The selected checks for ``account`` against the published file; ``refreshed`` names
    the tables this run published anew for it (the others were checked as kept)."""
    for rule in RULES:
        if rule.key in selected:
            offenders = [str(row[0]) for row in warehouse.read(rule.sql, [account])]
            yield Verdict(rule, account, offenders, rule.asset in refreshed)


def _latest(
    instance: DagsterInstance, asset_key: AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].event_log_entry.run_id,
        storage_id=records[0].storage_id,
        timestamp=records[0].timestamp,
    )
