"""The SQL the README shows analysts, as statements a test can run."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_sql_statements() -> list[str]:
    """Every statement of every ```sql block in the README, in order."""
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    return [s.query.strip() for block in blocks for s in duckdb.extract_statements(block)]
