"""The operator's walk through the Dagster UI, in a real browser against `dagster dev`, with
two Haier accounts (``north`` and ``south``) on two sandboxes.

The steps run in order and share one `dagster dev`: the asset graph (the catalog feeds the
orders), catalog_sync for every account from the Launchpad (each partition then shows its own
materialization, row count and checks), one account's secret going missing (the other still
syncs from the UI; check_connection names it), and a targeted refresh that leaves the last
full sync, and so freshness, as it was.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from haier_pipeline_tests.ui.conftest import ARTIFACTS, DagsterUi

pytestmark = pytest.mark.ui

RUN_TIMEOUT_MS = 120_000
ACCOUNTS = ("north", "south")
ROTATED = "NORTH_HAIER_PASSWORD_ROTATED"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _launch(
    page: Any, dagster_ui: DagsterUi, job: str, partition: str | None = None, edit: Any = None
) -> None:
    """The job's Launchpad, with ``partition`` picked and the prefilled run config changed by
    ``edit``, then "Launch Run"; a partitioned job launched without a partition (every
    account) asks to confirm."""
    page.goto(f"{dagster_ui.url}/locations/haier_pipeline/jobs/{job}/playground")
    editor = page.locator(".CodeMirror").first
    editor.wait_for()
    if partition is not None:
        picker = page.get_by_placeholder("Partition")
        picker.click()
        picker.fill(partition)
        page.get_by_role("menuitem", name=partition, exact=True).click()
        page.wait_for_timeout(1_000)  # the config is regenerated for the partition
    if edit is not None:
        config = editor.evaluate("node => node.CodeMirror.getValue()")
        editor.evaluate("(node, text) => node.CodeMirror.setValue(text)", edit(config))
    page.get_by_role("button", name=re.compile("Launch Run", re.I)).click()
    if partition is None and job in {"catalog_sync", "balance_snapshot"}:
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


def test_the_asset_graph_shows_the_catalog_feeding_the_orders(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    page.goto(f"{dagster_ui.url}/asset-groups")
    _dismiss_welcome(page)
    for group in ("catalog", "orders", "finance"):
        page.get_by_text(group, exact=True).first.wait_for()
    _shot(page, "01-asset-graph")
    page.goto(f"{dagster_ui.url}/assets/orders?view=lineage&lineageScope=upstream")
    page.get_by_text("products", exact=True).first.wait_for()
    # the lineage graph draws an edge (an SVG path) from products into orders
    page.locator("svg path").first.wait_for()
    page.get_by_text("Loading...").first.wait_for(state="hidden")
    _shot(page, "02-orders-lineage")


def test_catalog_sync_of_every_account_records_each_partition(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    _launch(page, dagster_ui, "catalog_sync")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    _shot(page, "03-catalog-sync-every-account")
    for name in ACCOUNTS:
        [(rows,)] = dagster_ui.rows("SELECT count(*) FROM products WHERE account = ?", (name,))
        page.goto(f"{dagster_ui.url}/assets/products?view=partitions&partition={name}")
        page.get_by_text("Materialized (2)").first.wait_for()  # both accounts' partitions
        row_count = page.locator("tr", has_text="dagster/row_count").first
        assert row_count.inner_text().split() == ["dagster/row_count", str(rows)]
        page.locator("tr", has_text="account").get_by_text(name, exact=True).wait_for()
        _shot(page, f"04-products-partition-{name}")


def test_each_account_has_its_own_check_results(browser_page: Any, dagster_ui: DagsterUi) -> None:
    page = browser_page
    page.goto(f"{dagster_ui.url}/assets/prices?view=checks")
    for check in ("prices_unique_code", "invoice_price_formula"):
        page.get_by_text(check).first.wait_for()
    _shot(page, "05-prices-checks")
    assert page.get_by_text(re.compile("Execution failed|Not evaluated", re.I)).count() == 0
    page.get_by_text("prices_unique_code").first.click()
    page.get_by_text("Partitions", exact=True).last.click()  # the check's own tab
    for name in ACCOUNTS:
        page.get_by_text(name, exact=True).first.wait_for()
    _shot(page, "06-prices-check-per-account")
    page.get_by_text("Execution history", exact=True).click()
    for name in ACCOUNTS:
        page.locator("tr", has_text=name).get_by_text("Passed").first.wait_for()
    _shot(page, "06b-prices-check-history-per-account")


def test_one_accounts_missing_secret_leaves_the_other_account_running(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    text = dagster_ui.accounts_file.read_text(encoding="utf-8")
    dagster_ui.accounts_file.write_text(
        text.replace('password_env = "NORTH_HAIER_PASSWORD"', f'password_env = "{ROTATED}"'),
        encoding="utf-8",
    )
    page.goto(f"{dagster_ui.url}/locations")
    page.get_by_text("Reload", exact=True).first.click()  # the definitions load again
    page.get_by_text("Loaded", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(3_000)
    page.goto(f"{dagster_ui.url}/locations/haier_pipeline/jobs")
    for job in ("catalog_sync", "push_orders", "check_connection"):
        page.get_by_text(job, exact=True).first.wait_for()
    _shot(page, "07-every-job-still-loaded")

    _launch(page, dagster_ui, "catalog_sync", partition="south")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    _shot(page, "08-south-still-syncs")

    _launch(page, dagster_ui, "catalog_sync", partition="north")
    page.get_by_text("Failure", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_text(re.compile(f"names {ROTATED}, which is not set")).first.wait_for()
    _shot(page, "09-north-names-its-missing-secret")
    # the checks that ran in north's failed run show as run, not "Not evaluated"
    page.goto(f"{dagster_ui.url}/assets/prices?view=checks")
    page.get_by_text("prices_unique_code").first.click()
    page.get_by_text("Execution history", exact=True).click()
    page.locator("tr", has_text="north").get_by_text("Passed").first.wait_for()
    assert page.get_by_text(re.compile("Execution failed|Not evaluated", re.I)).count() == 0
    _shot(page, "09b-checks-of-the-failed-run-ran")

    _launch(page, dagster_ui, "check_connection")
    page.get_by_text("Failure", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_text(re.compile(f"{ROTATED}, which is not set")).first.wait_for()
    _shot(page, "10-check-connection-names-it")


def test_a_targeted_refresh_leaves_the_last_full_sync_and_freshness_as_they_were(
    browser_page: Any, dagster_ui: DagsterUi
) -> None:
    page = browser_page
    before = _last_full_sync(page, dagster_ui, "11-stock-before-refresh")
    [(code,)] = dagster_ui.rows(
        "SELECT min(product_code) FROM stock WHERE account = 'south' AND county_code = '370202'"
    )
    _launch(
        page,
        dagster_ui,
        "catalog_sync",
        partition="south",
        edit=lambda _: (
            "ops:\n  catalog:\n    config:\n"
            f'      product_codes: ["{code}"]\n      county_codes: ["370202"]\n'
        ),
    )
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    _shot(page, "12-targeted-refresh")
    assert _last_full_sync(page, dagster_ui, "13-stock-after-refresh") == before
    page.goto(f"{dagster_ui.url}/assets/stock?view=events&partition=south")
    page.get_by_text(re.compile("targeted refresh")).first.wait_for()
    _shot(page, "14-stock-events-show-the-refresh")


FRESHNESS = ("Passing", "Warning", "Failing", "Unknown")


def _last_full_sync(page: Any, dagster_ui: DagsterUi, shot: str) -> tuple[str, list[str]]:
    """The run of south's latest stock materialization, and the asset's freshness state."""
    page.goto(f"{dagster_ui.url}/assets/stock?view=partitions&partition=south")
    page.get_by_text("Latest materialization").first.wait_for()
    run = page.locator("a", has_text=re.compile(r"^[0-9a-f]{8}$")).first.inner_text()
    page.goto(f"{dagster_ui.url}/assets/stock")
    page.get_by_text("Freshness policy").first.wait_for()
    page.get_by_text(re.compile("|".join(FRESHNESS))).first.wait_for()
    _shot(page, shot)
    return run, [state for state in FRESHNESS if page.get_by_text(state, exact=True).count()]
