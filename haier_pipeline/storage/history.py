"""History tables kept in step with the current-state tables, in bulk SQL.

After a catalog sync has swapped a current table in (``Warehouse.publish_catalog``), the
table *is* the truth of that sync: fetched keys carry what Haier said, keys whose call failed
carry their previous row, keys no longer listed are gone. So each history only has to follow
its current table, in the same transaction:

- an open row whose (key, state) is no longer in the current table is closed at ``at``;
- a (key, state) of the current table with no open row is opened at ``at``.

Two set operations (``EXCEPT`` compares NULLs as equal, as a state comparison must) over the
whole table, never a loop over rows. A sync that changed nothing closes and opens nothing.
Rows are only ever appended and closed, never rewritten.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from haier_pipeline.storage.schema import History


def follow_current(
    con: duckdb.DuckDBPyConnection, history: History, at: datetime, account: str
) -> int:
    """Close changed and vanished states of one account, open its new ones; returns how many
    rows were opened. Other accounts' rows are not read, let alone changed."""
    h = history.table.name
    keys = ", ".join(history.key)
    cols = ", ".join((*history.key, *history.state))
    on_key = " AND ".join(f"h.{k} = gone.{k}" for k in history.key)
    con.execute(
        f"UPDATE {h} AS h SET valid_to = $at FROM ("
        f"SELECT {cols} FROM {h} WHERE valid_to IS NULL AND account = $account "
        f"EXCEPT SELECT {cols} FROM {history.current.name} WHERE account = $account) AS gone "
        f"WHERE h.valid_to IS NULL AND {on_key}",
        {"at": at, "account": account},
    )
    [(opened,)] = con.execute(
        f"INSERT INTO {h} ({cols}, valid_from, valid_to) "
        f"SELECT {cols}, $at, NULL FROM ("
        f"SELECT {cols} FROM {history.current.name} WHERE account = $account "
        f"EXCEPT SELECT {cols} FROM {h} WHERE valid_to IS NULL AND account = $account) "
        f"ORDER BY {keys}",
        {"at": at, "account": account},
    ).fetchall()
    return int(opened)


def seed_from_current(con: duckdb.DuckDBPyConnection, history: History) -> None:
    """Open a row for every current row of a history that is still empty: a file written
    before history existed starts its history with what it holds, seen at its synced_at."""
    h = history.table.name
    cols = ", ".join((*history.key, *history.state))
    con.execute(
        f"INSERT INTO {h} ({cols}, valid_from, valid_to) "
        f"SELECT {cols}, synced_at, NULL FROM {history.current.name} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {h})"
    )
