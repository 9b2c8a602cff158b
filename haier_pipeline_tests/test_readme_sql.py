"""Every SQL query in the README runs as written against a file three days of syncs made."""

from __future__ import annotations

from pathlib import Path

import duckdb

from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.catalog.scenario import three_days
from haier_pipeline_tests.readme import readme_sql_statements


def test_every_readme_query_runs_and_finds_rows_in_a_synced_file(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    three_days(warehouse)
    statements = readme_sql_statements()
    assert len(statements) >= 7  # five analyst questions (one in two statements), one more

    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        for statement in statements:
            assert con.execute(statement).fetchall(), f"no rows from:\n{statement}"
