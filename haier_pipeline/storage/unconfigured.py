"""Rows of accounts that are no longer configured: found, reported, purged on request.

When the accounts file changes (moving from the HAIER_* variables to a file, or removing an
account), the old account's catalog stays in the DuckDB file: a sync replaces only its own
account's rows, and nothing else knows the old account ever existed. Deleting them silently
would lose data the moment someone mistypes an account name, so they are only reported
(every catalog_sync run warns naming them) until an operator purges them with
``haier-pipeline purge-accounts``. Orders, logistics, balances and sync_log rows are records
of what happened and are never purged.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from haier_pipeline.storage.schema import (
    ACCOUNT,
    PRICE_HISTORY,
    PRICES,
    PRODUCT_HISTORY,
    PRODUCTS,
    STOCK,
    STOCK_HISTORY,
    Table,
)
from haier_pipeline.storage.warehouse import Warehouse

CATALOG_TABLES: tuple[Table, ...] = (
    PRODUCTS,
    PRICES,
    STOCK,
    PRODUCT_HISTORY.table,
    PRICE_HISTORY.table,
    STOCK_HISTORY.table,
)
"""What a catalog sync writes per account, and so what an account left behind holds."""

Counts = dict[str, dict[str, int]]
"""account -> table -> rows."""


_NOT_CONFIGURED = f"WHERE NOT list_contains(?::VARCHAR[], {ACCOUNT.name})"


def unconfigured_rows(warehouse: Warehouse, configured: Sequence[str]) -> Counts:
    """The catalog rows of every account not in ``configured``, as analysts read them."""
    with warehouse.reading() as con:
        return {} if con is None else _count(con, configured)


def purge_unconfigured(warehouse: Warehouse, configured: Sequence[str]) -> Counts:
    """Delete the catalog rows of every account not in ``configured``, in one transaction,
    and publish; returns what was deleted."""
    with warehouse.transaction() as con:
        deleted = _count(con, configured)
        for table in CATALOG_TABLES:
            con.execute(f"DELETE FROM {table.name} {_NOT_CONFIGURED}", [list(configured)])
    return deleted


def _count(con: duckdb.DuckDBPyConnection, configured: Sequence[str]) -> Counts:
    found: Counts = {}
    for table in CATALOG_TABLES:
        rows = con.execute(
            f"SELECT {ACCOUNT.name}, count(*) FROM {table.name} {_NOT_CONFIGURED} "
            "GROUP BY ALL ORDER BY 1",
            [list(configured)],
        ).fetchall()
        for account, count in rows:
            found.setdefault(str(account), {})[table.name] = int(count)
    return found


def describe(counts: Counts) -> str:
    """``default (products 274, stock 822)``, one entry per account."""
    return "; ".join(
        f"{account} ({', '.join(f'{table} {rows}' for table, rows in tables.items())})"
        for account, tables in sorted(counts.items())
    )
