"""A run's private staging file, where extracted batches stream before they are published.

A catalog sync of 100,000 products must not hold the whole catalog as Python objects, nor
hold the working file's writer lock for the minutes the API calls take. Each batch is
appended here as an Arrow table as soon as it arrives; ``Warehouse.publish_catalog`` later
swaps the finished tables in with one short transaction. Only the run that owns the file
writes it, so no lock is needed; a crashed run leaves a file the next run of the same id
starts afresh and other runs ignore.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from haier_pipeline.storage.schema import SYNC_REJECTS, Table


class Staging:
    """One run's staging tables for one account: rows fetched, keys in scope, records rejected.

    The rows carry no account (it is NULL here); ``publish_catalog`` stamps the account the
    run syncs, so no row can be published under another account's name."""

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        Path(f"{path}.wal").unlink(missing_ok=True)
        self._con = duckdb.connect(str(path))
        for table in (*tables, SYNC_REJECTS):
            self._create(table.name, table.arrow_schema)
        for table in tables:
            key_schema = pa.schema([table.arrow_schema.field(k) for k in table.local_key])
            self._create(f"scope_{table.name}", key_schema)

    def _create(self, name: str, schema: pa.Schema) -> None:
        self._con.register("_empty", schema.empty_table())
        try:
            self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM _empty")
        finally:
            self._con.unregister("_empty")

    def append(self, name: str, rows: pa.Table) -> None:
        """Append rows to a staging table (``products``, ``scope_products``, ``sync_rejects``)."""
        if rows.num_rows == 0:
            return
        self._con.register("_rows", rows)
        try:
            self._con.execute(f"INSERT INTO {name} SELECT * FROM _rows")
        finally:
            self._con.unregister("_rows")

    def count(self, name: str) -> int:
        row = self._con.execute(f"SELECT count(*) FROM {name}").fetchone()
        return int(row[0]) if row else 0

    def column(self, name: str, column: str, where: str = "TRUE") -> list[str]:
        """Read one column back (e.g. the procurable product codes to price)."""
        rows = self._con.execute(f"SELECT {column} FROM {name} WHERE {where} ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        """Checkpoint and close, so the publisher can attach the file read-only."""
        with contextlib.suppress(duckdb.Error):
            self._con.execute("CHECKPOINT")
        self._con.close()

    def discard(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._con.close()
        self.path.unlink(missing_ok=True)
        Path(f"{self.path}.wal").unlink(missing_ok=True)
