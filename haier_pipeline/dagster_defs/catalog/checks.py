"""Asset checks for what analysts rely on in the published catalog.

Each check is one SQL query that counts offending rows in the file analysts read, so a failed
check shows the count and a few example keys in the UI, and anyone can rerun the query.
"""

from dataclasses import dataclass

from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, asset_check

from haier_pipeline.dagster_defs.resources import WarehouseResource

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


def _make_check(rule: RowRule) -> AssetChecksDefinition:
    @asset_check(asset=rule.asset, name=rule.name, description=rule.description)
    def _check(duckdb_warehouse: WarehouseResource) -> AssetCheckResult:
        warehouse = duckdb_warehouse.warehouse()
        offenders = [row[0] for row in warehouse.read(rule.sql)]
        return AssetCheckResult(
            passed=not offenders,
            severity=rule.severity,
            metadata={
                "offending_rows": len(offenders),
                "examples": ", ".join(str(o) for o in offenders[:EXAMPLES]),
            },
        )

    return _check


CATALOG_CHECKS: list[AssetChecksDefinition] = [_make_check(rule) for rule in RULES]
