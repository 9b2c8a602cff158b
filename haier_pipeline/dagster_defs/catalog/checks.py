"""Asset checks for what analysts rely on in the published catalog.

Each check is one SQL query that counts offending rows in the file analysts read, so a failed
check shows the count and a few example keys in the UI, and anyone can rerun the query.

The checks are declared on the ``catalog`` multi-asset (``CATALOG_CHECK_SPECS``) and evaluated
by it after every sync, failed or not. Dagster shows a check that was planned in a failed
run and never evaluated as "Execution failed" (red), and it has no way to declare a check
skippable (dagster-io/dagster#28461). A refused phase publishes nothing new, so the honest
result is the check evaluated against the rows analysts still read; its description then
says that the table was not refreshed. A check can also be executed alone from the UI.
"""

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from haier_pipeline.storage.warehouse import Warehouse

EXAMPLES = 5


@dataclass(frozen=True)
class RowRule:
    """Rows returned by ``sql`` break the rule; the first column names the offending record."""

    asset: str
    name: str
    description: str
    sql: str
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR


RULES = (
    RowRule(
        "products",
        "products_unique_code",
        "Every product_code appears once per account.",
        "SELECT account || ':' || product_code FROM products GROUP BY account, product_code "
        "HAVING count(*) > 1",
    ),
    RowRule(
        "prices",
        "prices_unique_code",
        "Every product_code has at most one price per account.",
        "SELECT account || ':' || product_code FROM prices GROUP BY account, product_code "
        "HAVING count(*) > 1",
    ),
    RowRule(
        "stock",
        "stock_unique_product_county",
        "Every (product_code, county_code) appears once per account.",
        "SELECT account || ':' || product_code || '@' || county_code FROM stock "
        "GROUP BY account, product_code, county_code HAVING count(*) > 1",
    ),
    RowRule(
        "stock",
        "stock_not_negative",
        "No stock quantity below zero.",
        "SELECT product_code || '@' || county_code FROM stock WHERE stock_qty < 0",
    ),
    RowRule(
        "prices",
        "invoice_price_formula",
        "invoice_price = supply_price × (1 − direct_discount_rate) − rebate_money, within a cent.",
        "SELECT product_code FROM prices WHERE supply_price IS NOT NULL AND invoice_price IS NOT "
        "NULL AND abs(invoice_price - (supply_price * (1 - coalesce(direct_discount_rate, 0)) "
        "- coalesce(rebate_money, 0))) > 0.01",
    ),
    RowRule(
        "prices",
        "procurable_products_priced_or_explained",
        "Every procurable product has a supply price or a note saying why not.",
        "SELECT p.product_code FROM products p LEFT JOIN prices r USING (account, product_code) "
        "WHERE p.is_procurable AND r.supply_price IS NULL AND coalesce(r.price_note, '') = ''",
        AssetCheckSeverity.WARN,
    ),
)


CATALOG_CHECK_SPECS = [
    AssetCheckSpec(rule.name, asset=rule.asset, description=rule.description) for rule in RULES
]


def evaluate_checks(
    warehouse: Warehouse, selected: Collection[AssetCheckKey], refreshed: Collection[str]
) -> Iterator[AssetCheckResult]:
    """The selected checks against the published file; ``refreshed`` names the tables this
    run published anew (the others were checked as kept from an earlier sync)."""
    for rule in RULES:
        if AssetCheckKey(AssetKey(rule.asset), rule.name) not in selected:
            continue
        offenders = [row[0] for row in warehouse.read(rule.sql)]
        yield AssetCheckResult(
            asset_key=rule.asset,
            check_name=rule.name,
            passed=not offenders,
            severity=rule.severity,
            description=None
            if rule.asset in refreshed
            else f"{rule.asset} was not refreshed by this run; checked the rows analysts read",
            metadata={
                "offending_rows": len(offenders),
                "examples": ", ".join(str(o) for o in offenders[:EXAMPLES]),
                "table_refreshed": rule.asset in refreshed,
            },
        )
