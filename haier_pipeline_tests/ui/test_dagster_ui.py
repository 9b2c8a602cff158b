"""The operator's walk through the Dagster UI, in a real browser against `dagster dev`.

The steps run in order and share one `dagster dev`: the asset graph, catalog_sync from the
Launchpad, the prices page, and check_connection with a wrong seller password.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pytest

from haier_pipeline_tests.ui.conftest import ARTIFACTS, DagsterUi

pytestmark = pytest.mark.ui

RUN_TIMEOUT_MS = 120_000
# The Launchpad prefills each resource field with the variable it reads (`env: NAME`); the
# operator overrides one of them for this run only.
SELLER_PASSWORD_FROM_ENV = re.compile(r"seller_password:\n\s+env: HAIER_SELLER_PASSWORD")
WRONG_SELLER_PASSWORD = "seller_password: wrong-seller-password"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PARTITIONED_JOBS = {"catalog_sync", "balance_snapshot"}


def _launch(page: Any, dagster_ui: DagsterUi, job: str, edit: Any = None) -> None:
    """The job's Launchpad, its prefilled run config changed by ``edit``, then "Launch Run"."""
    page.goto(f"{dagster_ui.url}/locations/haier_pipeline/jobs/{job}/playground")
    editor = page.locator(".CodeMirror").first
    editor.wait_for()
    if edit is not None:
        config = editor.evaluate("node => node.CodeMirror.getValue()")
        editor.evaluate("(node, text) => node.CodeMirror.setValue(text)", edit(config))
    page.get_by_role("button", name=re.compile("Launch Run", re.I)).click()
    if job in PARTITIONED_JOBS:
        # Partitioned by account: a run naming no partition syncs every account, which
        # Dagster asks the operator to confirm.
        page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"), timeout=RUN_TIMEOUT_MS)


def _dismiss_welcome(page: Any) -> None:
    """A fresh instance greets with a "Join the Dagster community" dialog; skip it."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
    except Exception:  # no dialog this time
        return
    skip.click()


def test_the_asset_graph_opens(browser_page: Any, dagster_ui: DagsterUi) -> None:
    page = browser_page
    page.goto(f"{dagster_ui.url}/asset-groups")
    _dismiss_welcome(page)
    for group in ("catalog", "orders", "finance"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.get_by_role("button", name=re.compile("Materialize all")).wait_for()
    _shot(page, "01-asset-graph")


def test_catalog_sync_launched_from_the_launchpad_succeeds(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    _launch(page, dagster_ui, "catalog_sync")
    _shot(page, "02-catalog-sync-launched")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    _shot(page, "03-catalog-sync-succeeded")


def test_the_prices_page_shows_rows_columns_and_passing_checks(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    with duckdb.connect(str(dagster_ui.duckdb_path), read_only=True) as con:
        [(rows,)] = con.execute("SELECT count(*) FROM prices").fetchall()
    page.goto(f"{dagster_ui.url}/assets/prices")
    page.get_by_text("Row count").first.wait_for()
    page.get_by_text(f"{rows:,}", exact=True).first.wait_for()
    page.get_by_text("DECIMAL(18,2)").first.wait_for()
    _shot(page, "04-prices-overview")
    page.goto(f"{dagster_ui.url}/assets/prices?view=checks")
    for check in ("prices_unique_code", "invoice_price_formula"):
        page.get_by_text(check).first.wait_for()
    assert page.get_by_text(re.compile("Execution failed|Failed", re.I)).count() == 0
    page.get_by_text(re.compile("Passed", re.I)).first.wait_for()
    _shot(page, "05-prices-checks")


def test_check_connection_names_the_wrong_variable(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    _launch(
        page,
        dagster_ui,
        "check_connection",
        lambda config: SELLER_PASSWORD_FROM_ENV.sub(WRONG_SELLER_PASSWORD, config),
    )
    page.get_by_text("Failure", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_text(re.compile("fix HAIER_SELLER_PASSWORD")).first.wait_for()
    _shot(page, "06-check-connection-refused")
