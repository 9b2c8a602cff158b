"""docs/orders.md and examples/order.json: the order format as users read it, kept true."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.fields import FIELDS, ITEM_FIELDS
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.orders.factories import sandbox_pusher

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("test_documented_format")


def test_the_format_page_names_every_field_the_validator_knows() -> None:
    page = (ROOT / "docs" / "orders.md").read_text(encoding="utf-8")
    for name in FIELDS:
        shown = f"`itemList[].{name}`" if name in ITEM_FIELDS else f"`{name}`"
        assert shown in page, f"docs/orders.md does not describe {name}"


def test_the_readme_orders_section_links_the_format_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    orders = readme.split("## Orders", 1)[1].split("\n## ", 1)[0]
    assert "docs/orders.md" in orders and "rename" in orders


@pytest.mark.parametrize("sandbox", [{"size": 300, "seed": 42}], indirect=True)
def test_the_example_order_is_pushed_by_the_sandbox_of_the_readme(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
) -> None:
    """The catalog of `haier-pipeline sandbox` and `demo` (seed 42) takes the example as is."""
    shutil.copy(ROOT / "examples" / "order.json", inbox / "order.json")

    report = sandbox_pusher(sandbox, clients, warehouse, inbox, LOG).run("run-1")

    [outcome] = report.outcomes
    assert (outcome.status, outcome.so_id) == ("pushed", "SO-EXAMPLE-0001"), outcome.detail
    assert sandbox.orders["SO-EXAMPLE-0001"]["retailOrderNo"] == outcome.detail
