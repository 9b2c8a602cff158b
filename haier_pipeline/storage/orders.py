"""The SQL of the order tables: orders, logistics_events and account_balance.

Every function takes an open DuckDB connection, so the caller chooses the transaction (the
pusher writes each step of an order in its own short one, under the warehouse's writer lock).
The status rules live here (``save_order`` for the pusher, ``after_callback`` for Haier's
callbacks), so that the pusher, the callbacks and the logistics refresh cannot disagree about
which transitions are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.storage.schema import ACCOUNT_BALANCE, LOGISTICS_EVENTS
from haier_pipeline.storage.warehouse import insert_new

PENDING = "pending"
PUSHED = "pushed"
REJECTED = "rejected"
FAILED = "failed"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
OUT_OF_STOCK = "out_of_stock"

SET_BY_HAIER = (CONFIRMED, CANCELLED, OUT_OF_STOCK)
"""Only Haier's callbacks move an order here, and the pusher never moves it back out."""
DELIVERED_STATUSES = ("DELIVERED", "INSTALLED", "SIGNED")
"""Logistics statuses at which track_logistics stops asking about an order."""

CONFIRM = "hmm.scm_heorder.confirm"
CANCEL = "hmm.scm_heorder.cancel"
OOSTOCK = "hmm.scm_heorder.oostock"


@dataclass(frozen=True)
class StoredOrder:
    """What a previous run recorded about an order, which decides what this run may do."""

    so_id: str
    status: str
    retail_order_no: str | None
    push_attempts: int
    source_file: str | None = None

    @property
    def exists_at_ylh(self) -> bool:
        """YLH gave us its number for this soId, so it holds the order: never push it again."""
        return self.retail_order_no is not None

    @property
    def may_have_been_pushed(self) -> bool:
        """A push was sent and its answer never recorded (crash, timeout): only a re-push by
        soId can tell, and re-checking stock first would count our own order against it."""
        return self.push_attempts > 0 and self.status != REJECTED and not self.exists_at_ylh


@dataclass(frozen=True)
class OrderFacts:
    """The columns an order file tells us; None for what an invalid file did not say."""

    so_id: str
    source_file: str
    online_no: str | None = None
    total_amt: Decimal | None = None
    county_code: str | None = None
    account: str = DEFAULT_ACCOUNT


@dataclass(frozen=True)
class TrackedOrder:
    so_id: str
    retail_order_no: str
    account: str = DEFAULT_ACCOUNT


_SAVE = f"""
INSERT INTO orders (account, so_id, online_no, total_amt, county_code, source_file, status,
    retail_order_no, last_error, push_attempts, received_at, pushed_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, so_id) DO UPDATE SET
    online_no = coalesce(excluded.online_no, online_no),
    total_amt = coalesce(excluded.total_amt, total_amt),
    county_code = coalesce(excluded.county_code, county_code),
    source_file = coalesce(excluded.source_file, source_file),
    status = CASE WHEN status IN {SET_BY_HAIER!r} THEN status ELSE excluded.status END,
    retail_order_no = coalesce(excluded.retail_order_no, retail_order_no),
    last_error = excluded.last_error,
    push_attempts = coalesce(push_attempts, 0) + excluded.push_attempts,
    pushed_at = coalesce(pushed_at, excluded.pushed_at),
    updated_at = excluded.updated_at
"""


def save_order(
    con: duckdb.DuckDBPyConnection,
    facts: OrderFacts,
    status: str,
    now: datetime,
    *,
    last_error: str | None = None,
    retail_order_no: str | None = None,
    attempt: bool = False,
) -> None:
    """Record one step of the pusher; ``attempt`` counts a push about to be sent.

    received_at keeps the first sighting and pushed_at the first push. A status Haier set by
    callback (confirmed, cancelled, out_of_stock) is kept: a re-push after a crash only
    learns the retailOrderNo it lost.
    """
    con.execute(
        _SAVE,
        [
            facts.account,
            facts.so_id,
            facts.online_no,
            facts.total_amt,
            facts.county_code,
            facts.source_file,
            status,
            retail_order_no,
            last_error,
            1 if attempt else 0,
            now,
            now if retail_order_no else None,
            now,
        ],
    )


def stored_order(
    con: duckdb.DuckDBPyConnection, so_id: str, account: str = DEFAULT_ACCOUNT
) -> StoredOrder | None:
    row = con.execute(
        "SELECT so_id, status, retail_order_no, coalesce(push_attempts, 0), source_file "
        "FROM orders WHERE account = ? AND so_id = ?",
        [account, so_id],
    ).fetchone()
    return None if row is None else StoredOrder(row[0], row[1], row[2], int(row[3]), row[4])


def procurable_products(
    con: duckdb.DuckDBPyConnection, account: str = DEFAULT_ACCOUNT
) -> dict[str, bool]:
    """products.is_procurable by code, as the account's last catalog sync left it."""
    rows = con.execute(
        "SELECT product_code, coalesce(is_procurable, false) FROM products WHERE account = ?",
        [account],
    )
    return dict(rows.fetchall())


def add_reject(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    sync_type: str,
    record_key: str,
    reason: str,
    raw: str | None,
    now: datetime,
    account: str = DEFAULT_ACCOUNT,
) -> None:
    """A record with no orders row of its own, kept with its reason: an order file without a
    valid soId, an inbox entry that was not read (``raw`` None: its content is never stored),
    or a second file for an soId already pushed."""
    con.execute(
        "INSERT INTO sync_rejects (account, run_id, sync_type, record_key, reason, raw, "
        "rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [account, run_id, sync_type, record_key, reason, raw, now],
    )


# -- logistics -------------------------------------------------------------------------


def orders_to_track(
    con: duckdb.DuckDBPyConnection, account: str = DEFAULT_ACCOUNT
) -> list[TrackedOrder]:
    """The account's pushed or confirmed orders whose parcels have not reached the customer."""
    rows = con.execute(
        f"SELECT so_id, retail_order_no FROM orders WHERE status IN {(PUSHED, CONFIRMED)!r} "
        "AND retail_order_no IS NOT NULL AND account = ? "
        f"AND coalesce(logistics_status, '') NOT IN {DELIVERED_STATUSES!r} ORDER BY so_id",
        [account],
    ).fetchall()
    return [TrackedOrder(so_id, number, account) for so_id, number in rows]


def add_logistics_events(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    account: str = DEFAULT_ACCOUNT,
) -> int:
    """Store events of the account's orders not seen before and move each order to its
    latest status; returns new rows.

    Keys repeated within ``rows`` (one event listed twice by Haier) are stored once.
    """
    unique = {(r["so_id"], r["logistics_no"], r["status"]): {**r, "account": account} for r in rows}
    if not unique:
        return 0
    added = insert_new(con, LOGISTICS_EVENTS, LOGISTICS_EVENTS.to_arrow(list(unique.values())))
    so_ids = sorted({r["so_id"] for r in unique.values()})
    con.execute(
        "UPDATE orders SET logistics_status = latest.status, updated_at = $now FROM ("
        "  SELECT so_id, arg_max(status, status_time) AS status FROM logistics_events"
        "  WHERE account = $account AND so_id IN (SELECT unnest($so_ids)) GROUP BY so_id"
        ") AS latest WHERE orders.account = $account AND orders.so_id = latest.so_id "
        "AND orders.logistics_status IS DISTINCT FROM latest.status",
        {"now": now, "account": account, "so_ids": so_ids},
    )
    return added


# -- callbacks ---------------------------------------------------------------------------

_CALLBACK_EFFECTS: dict[tuple[str, int], tuple[str | None, str | None]] = {
    (CONFIRM, 1): (CONFIRMED, None),
    (CONFIRM, 0): (REJECTED, "Haier refused the order: {}"),
    (CANCEL, 1): (CANCELLED, None),
    (CANCEL, 0): (None, "Haier could not cancel the order: {}"),
    (OOSTOCK, 1): (OUT_OF_STOCK, "Haier reported the order out of stock: {}"),
    (OOSTOCK, 0): (OUT_OF_STOCK, "Haier reported the order out of stock: {}"),
}
"""(method, State) -> (new status or None to keep it, last_error template or None)."""

FAILURE_STATUSES = (REJECTED, FAILED, OUT_OF_STOCK)
"""Statuses whose last_error says why the order is stuck; a reason there is never wiped."""


def after_callback(
    status: str, last_error: str | None, method: str, state: int, fail_msg: str
) -> tuple[str, str | None]:
    """The (status, last_error) an order has after one callback: THE precedence rules.

    1. cancelled is final: nothing changes it, nor its last_error.
    2. out_of_stock is final but for a successful cancel: a confirm that arrives after an
       oostock (Haier sends them in any order) leaves the order out of stock with its reason.
    3. Otherwise the callback sets its status (cancel State 0 keeps the status). An order that
       stays in the same failure status (rejected twice, a failed cancel of a rejected order)
       keeps the reason it has.
    4. A callback with a reason replaces last_error. Without one, confirmed clears it (the order
       is accepted, nothing is wrong any more) and cancelled keeps it (why it ended).

    Every rule maps a state to itself when applied twice, so re-applying a callback (Haier
    resends; a crash re-applies a batch) changes nothing more.
    """
    effect = _CALLBACK_EFFECTS.get((method, state))
    if effect is None:
        raise ValueError(f"callback method {method!r} with State {state!r} has no status rule")
    target, template = effect
    if status == CANCELLED or (status == OUT_OF_STOCK and target != CANCELLED):
        return status, last_error
    new_status = target or status
    if new_status == status and status in FAILURE_STATUSES:
        return status, last_error
    if template is not None:
        return new_status, template.format(fail_msg or "no reason given")
    return new_status, None if new_status == CONFIRMED else last_error


def orders_for_platform_order_no(
    con: duckdb.DuckDBPyConnection, number: str, account: str = DEFAULT_ACCOUNT
) -> list[str]:
    """The orders a callback's PlatformOrderNo names: our soId, else our onlineNo.

    haier-api.md only says "our order number". We send both soId (unique per sub-order) and
    onlineNo (the platform order, 3.1); a soId match is exact, an onlineNo match covers every
    sub-order of that platform order.
    """
    rows = con.execute(
        "SELECT so_id FROM orders WHERE account = ? AND so_id = ?", [account, number]
    ).fetchall()
    if not rows:
        rows = con.execute(
            "SELECT so_id FROM orders WHERE account = ? AND online_no = ? ORDER BY so_id",
            [account, number],
        ).fetchall()
    return [row[0] for row in rows]


def apply_callback(
    con: duckdb.DuckDBPyConnection,
    so_ids: Iterable[str],
    method: str,
    state: int,
    ext_order_no: str | None,
    fail_msg: str,
    now: datetime,
    account: str = DEFAULT_ACCOUNT,
) -> None:
    """Set the account's orders' status and last_error from one callback by
    ``after_callback``.

    Read and write happen in the caller's transaction, under the warehouse's writer lock, so
    no other writer moves the order in between.
    """
    after_callback(PUSHED, None, method, state, fail_msg)  # refuses an unknown (method, State)
    for so_id in so_ids:
        row = con.execute(
            "SELECT status, last_error FROM orders WHERE account = ? AND so_id = ?",
            [account, so_id],
        ).fetchone()
        if row is None:
            continue
        status, last_error = after_callback(row[0], row[1], method, state, fail_msg)
        con.execute(
            "UPDATE orders SET status = ?, last_error = ?, "
            "ext_order_no = coalesce(?, ext_order_no), updated_at = ? "
            "WHERE account = ? AND so_id = ?",
            [status, last_error, ext_order_no, now, account, so_id],
        )


# -- balance -------------------------------------------------------------------------------


def append_balances(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[Mapping[str, Any]],
    account: str = DEFAULT_ACCOUNT,
) -> int:
    """Append one snapshot of the account (all rows share fetched_at); a repeated snapshot
    adds nothing."""
    stamped = [{**row, "account": account} for row in rows]
    return insert_new(con, ACCOUNT_BALANCE, ACCOUNT_BALANCE.to_arrow(stamped))


def latest_balances(
    con: duckdb.DuckDBPyConnection, account: str = DEFAULT_ACCOUNT
) -> dict[str, Decimal]:
    """Balance per sale group in the account's most recent snapshot."""
    rows = con.execute(
        "SELECT sale_group_code, balance FROM account_balance WHERE account = $account "
        "AND fetched_at = (SELECT max(fetched_at) FROM account_balance WHERE account = $account) "
        "ORDER BY 1",
        {"account": account},
    ).fetchall()
    return dict(rows)


def unconfirmed_total(con: duckdb.DuckDBPyConnection, account: str = DEFAULT_ACCOUNT) -> Decimal:
    """What Haier may still debit the account: total_amt of its orders pushed and not yet
    confirmed."""
    row = con.execute(
        f"SELECT coalesce(sum(total_amt), 0) FROM orders WHERE status = '{PUSHED}' AND account = ?",
        [account],
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)
