"""The schema declaration is what a synced file shows: columns, types and comments."""

from __future__ import annotations

from pathlib import Path

import duckdb

from haier_pipeline.storage.schema import ALL_TABLES, ALL_VIEWS, PRICES, STOCK
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.catalog.scenario import make_days, sync


def test_every_table_view_and_column_of_a_synced_file_carries_its_declared_comment(
    tmp_path: Path,
) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    sync(make_days(), 1, warehouse)  # the sync rebuilds products, prices and stock

    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        columns = {
            (t, c): comment
            for t, c, comment in con.execute(
                "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal"
            ).fetchall()
        }
        objects = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() UNION ALL "
                "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        )

    everything = (*ALL_TABLES, *ALL_VIEWS)
    assert columns == {(o.name, c.name): c.description for o in everything for c in o.fields}
    assert objects == {o.name: o.description for o in everything}


def test_a_column_description_names_its_unit_and_haier_field() -> None:
    assert PRICES.column_descriptions["invoice_price"].endswith(
        "Unit: yuan per unit. Haier field: invoicePrice."
    )
    assert (
        "Haier field: timelinessData.achieveUserOrderCut."
        in (STOCK.column_descriptions["expected_delivery_date"])
    )
