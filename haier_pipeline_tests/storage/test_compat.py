"""The files the pipeline publishes open in the DuckDB versions analysts actually use.

Each reader is a real DuckDB 1.x wheel from PyPI in its own virtual environment, created by
the first test run under ``.cache/duckdb-compat/`` (gitignored) and reused after. The reader
runs in a subprocess, opens the published file read-only, reads every table and view, the
comments, and runs every query of the README.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import venv
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.storage.schema import ALL_TABLES, ALL_VIEWS
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.catalog.scenario import three_days
from haier_pipeline_tests.readme import readme_sql_statements
from haier_pipeline_tests.storage.previous_release import (
    PRODUCT_CODES,
    write_previous_release_files,
)

pytestmark = pytest.mark.compat

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "duckdb-compat"
# pytz: DuckDB 1.x needs it to hand TIMESTAMPTZ values to Python (2.0 does not).
READERS = {"1.4": ("duckdb>=1.4,<1.5", "pytz"), "1.5": ("duckdb>=1.5,<1.6", "pytz")}

READ = textwrap.dedent(
    """
    import json, sys
    import duckdb
    path, objects, statements = sys.argv[1], json.loads(sys.argv[2]), json.load(sys.stdin)
    with duckdb.connect(path, read_only=True) as con:
        counts = {o: con.execute(f"SELECT count(*) FROM {o}").fetchall()[0][0] for o in objects}
        comments = con.execute(
            "SELECT count(*) FILTER (WHERE comment IS NULL), count(*) FROM duckdb_columns()"
            " WHERE NOT internal").fetchall()[0]
        rows = [len(con.execute(s).fetchall()) for s in statements]
    print(json.dumps({"version": duckdb.__version__, "counts": counts,
                      "uncommented": comments[0], "columns": comments[1], "rows": rows}))
    """
)


def reader_python(line: str) -> Path:
    """The python of a cached virtual environment holding a DuckDB of this release line."""
    home = CACHE / line
    python = home / "bin" / "python"
    done = home / ".installed"
    wanted = " ".join(READERS[line])
    if not done.exists() or done.read_text() != wanted:
        venv.create(home, with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *READERS[line]],
            check=True,
            timeout=600,
        )
        done.write_text(wanted)
    return python


def read_with(line: str, path: Path, statements: list[str]) -> dict[str, Any]:
    objects = [t.name for t in ALL_TABLES] + [v.name for v in ALL_VIEWS]
    done = subprocess.run(
        [str(reader_python(line)), "-c", READ, str(path), json.dumps(objects)],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = Warehouse(tmp_path_factory.mktemp("compat") / "haier.duckdb")
    three_days(warehouse)
    return warehouse.path


@pytest.mark.parametrize("line", sorted(READERS))
def test_a_published_file_opens_in_duckdb_1x_with_comments_and_readme_queries(
    line: str, published: Path
) -> None:
    statements = readme_sql_statements()

    seen = read_with(line, published, statements)

    assert seen["version"].startswith(line + ".")
    assert seen["counts"]["catalog"] > 0 and seen["counts"]["price_history"] > 0
    assert seen["uncommented"] == 0 and seen["columns"] > 100
    assert len(seen["rows"]) == len(statements) and all(seen["rows"])


def test_a_file_of_the_previous_release_migrates_and_then_opens_in_duckdb_1_4(
    tmp_path: Path,
) -> None:
    path = tmp_path / "haier.duckdb"
    write_previous_release_files(path)
    with pytest.raises(AssertionError, match="version number"):
        read_with("1.4", path, [])  # what analysts on 1.x saw before this release

    warehouse = Warehouse(path)
    [sync_log_id] = warehouse.start_syncs("after-upgrade", ["products"]).values()

    assert sync_log_id == 4  # the sequence went on where the old file left it
    seen = read_with("1.4", path, ["SELECT product_code FROM price_history WHERE valid_to IS NULL"])
    assert seen["counts"]["products"] == len(PRODUCT_CODES)
    assert seen["counts"]["product_history"] == len(PRODUCT_CODES)  # started from the old rows
    assert seen["rows"] == [len(PRODUCT_CODES)]
    assert seen["uncommented"] == 0
