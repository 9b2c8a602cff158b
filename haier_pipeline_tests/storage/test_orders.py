"""The status rules of storage.orders, on an in-memory DuckDB with the real schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from haier_pipeline.storage import orders as db
from haier_pipeline.storage.schema import SETUP_SQL

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
FACTS = db.OrderFacts("SO-1", "SO-1.json", "ON-1", Decimal("10.50"), "110101")


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        for statement in SETUP_SQL:
            connection.execute(statement)
        yield connection


def _row(con: duckdb.DuckDBPyConnection, so_id: str = "SO-1") -> tuple[object, ...]:
    row = con.execute(
        "SELECT status, retail_order_no, ext_order_no, last_error, push_attempts, received_at, "
        "pushed_at FROM orders WHERE so_id = ?",
        [so_id],
    ).fetchone()
    assert row is not None
    return row


def test_push_steps_count_attempts_and_keep_first_sightings(con: duckdb.DuckDBPyConnection) -> None:
    db.save_order(con, FACTS, db.PENDING, NOW, attempt=True)
    db.save_order(con, FACTS, db.FAILED, NOW + timedelta(minutes=1), last_error="timeout")
    stored = db.stored_order(con, "SO-1")
    assert stored == db.StoredOrder("SO-1", db.FAILED, None, 1, "SO-1.json")
    assert stored.may_have_been_pushed and not stored.exists_at_ylh

    later = NOW + timedelta(minutes=15)
    db.save_order(con, FACTS, db.PENDING, later, attempt=True)
    db.save_order(con, db.OrderFacts("SO-1", "SO-1.json"), db.PUSHED, later, retail_order_no="R1")
    assert _row(con) == ("pushed", "R1", None, None, 2, NOW, later)
    assert con.execute("SELECT online_no, total_amt FROM orders").fetchall() == [
        ("ON-1", Decimal("10.50"))
    ]
    assert db.stored_order(con, "SO-1").exists_at_ylh


def test_a_rejected_order_was_not_created_so_it_may_be_checked_again(
    con: duckdb.DuckDBPyConnection,
) -> None:
    db.save_order(con, FACTS, db.PENDING, NOW, attempt=True)
    db.save_order(con, FACTS, db.REJECTED, NOW, last_error="YLH refused")
    stored = db.stored_order(con, "SO-1")
    assert not stored.may_have_been_pushed and not stored.exists_at_ylh


def test_a_push_recorded_after_haiers_callback_keeps_haiers_status(
    con: duckdb.DuckDBPyConnection,
) -> None:
    db.save_order(con, FACTS, db.PENDING, NOW, attempt=True)
    db.apply_callback(con, ["SO-1"], db.CONFIRM, 1, "EXT-1", "", NOW)
    assert db.stored_order(con, "SO-1").may_have_been_pushed  # its retailOrderNo is unknown
    db.save_order(con, FACTS, db.PUSHED, NOW, retail_order_no="R1")
    assert _row(con)[:3] == ("confirmed", "R1", "EXT-1")


@pytest.mark.parametrize(
    ("callbacks", "expected"),
    [
        ([(db.CONFIRM, 1)], ("confirmed", None)),
        ([(db.CONFIRM, 0)], ("rejected", "Haier refused the order: why")),
        ([(db.CANCEL, 1), (db.CONFIRM, 1)], ("cancelled", None)),
        ([(db.CANCEL, 0)], ("pushed", "Haier could not cancel the order: why")),
        (
            [(db.OOSTOCK, 0), (db.CONFIRM, 1)],
            ("out_of_stock", "Haier reported the order out of stock: why"),
        ),
        (
            [(db.OOSTOCK, 1), (db.CANCEL, 1)],
            ("cancelled", "Haier reported the order out of stock: why"),
        ),
        ([(db.CANCEL, 1), (db.OOSTOCK, 1)], ("cancelled", None)),
        ([(db.CONFIRM, 0), (db.CANCEL, 0)], ("rejected", "Haier refused the order: why")),
        ([(db.CONFIRM, 0), (db.CONFIRM, 1)], ("confirmed", None)),
    ],
)
def test_callback_rules(
    con: duckdb.DuckDBPyConnection,
    callbacks: list[tuple[str, int]],
    expected: tuple[str, str | None],
) -> None:
    db.save_order(con, FACTS, db.PUSHED, NOW, retail_order_no="R1")
    for _ in range(2):  # every callback twice: Haier resends, and a crash re-applies
        for method, state in callbacks:
            db.apply_callback(con, ["SO-1"], method, state, None, "why", NOW)
    assert (_row(con)[0], _row(con)[3]) == expected


def test_a_confirm_after_an_oostock_keeps_the_out_of_stock_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    db.save_order(con, FACTS, db.PUSHED, NOW, retail_order_no="R1")
    db.apply_callback(con, ["SO-1"], db.OOSTOCK, 1, None, "仓库无货", NOW)
    db.apply_callback(con, ["SO-1"], db.CONFIRM, 1, "EXT-1", "", NOW + timedelta(minutes=1))
    status, _, ext_order_no, last_error, *_ = _row(con)
    assert (status, ext_order_no) == ("out_of_stock", "EXT-1")
    assert last_error == "Haier reported the order out of stock: 仓库无货"


@pytest.mark.parametrize(
    ("before", "callback", "after"),
    [
        (("pushed", None), (db.CONFIRM, 1), ("confirmed", None)),
        (("failed", "timeout"), (db.CONFIRM, 1), ("confirmed", None)),
        (("out_of_stock", "oos"), (db.CONFIRM, 1), ("out_of_stock", "oos")),
        (("out_of_stock", "oos"), (db.CONFIRM, 0), ("out_of_stock", "oos")),
        (("out_of_stock", "oos"), (db.CANCEL, 1), ("cancelled", "oos")),
        (("rejected", "refused"), (db.CANCEL, 0), ("rejected", "refused")),
        (("confirmed", None), (db.CANCEL, 0), ("confirmed", "Haier could not cancel the order: x")),
        (("cancelled", None), (db.OOSTOCK, 1), ("cancelled", None)),
        (
            ("confirmed", None),
            (db.OOSTOCK, 1),
            ("out_of_stock", "Haier reported the order out of stock: x"),
        ),
    ],
)
def test_after_callback_is_the_one_precedence_table(
    before: tuple[str, str | None], callback: tuple[str, int], after: tuple[str, str | None]
) -> None:
    assert db.after_callback(*before, *callback, "x") == after


def test_platform_order_no_matches_the_so_id_first_then_every_sub_order_of_the_online_no(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for so_id in ("SO-1", "SO-2"):
        db.save_order(con, db.OrderFacts(so_id, f"{so_id}.json", "ON-1"), db.PUSHED, NOW)
    db.save_order(con, db.OrderFacts("ON-1", "x.json", "ON-9"), db.PUSHED, NOW)
    assert db.orders_for_platform_order_no(con, "SO-2") == ["SO-2"]
    assert db.orders_for_platform_order_no(con, "ON-1") == ["ON-1"]
    assert db.orders_for_platform_order_no(con, "ON-9") == ["ON-1"]
    con.execute("DELETE FROM orders WHERE so_id = 'ON-1'")
    assert db.orders_for_platform_order_no(con, "ON-1") == ["SO-1", "SO-2"]
    assert db.orders_for_platform_order_no(con, "NOPE") == []
    with pytest.raises(ValueError, match="State 2"):
        db.apply_callback(con, ["SO-1"], db.CONFIRM, 2, None, "", NOW)


def _event(status: str, minute: int, logistics_no: str = "L1") -> dict[str, object]:
    return {
        "so_id": "SO-1",
        "logistics_no": logistics_no,
        "status": status,
        "status_time": NOW + timedelta(minutes=minute),
        "source": "third_party",
        "recorded_at": NOW,
    }


def test_logistics_events_are_stored_once_and_the_latest_sets_the_status(
    con: duckdb.DuckDBPyConnection,
) -> None:
    db.save_order(con, FACTS, db.PUSHED, NOW, retail_order_no="R1")
    assert db.orders_to_track(con) == [db.TrackedOrder("SO-1", "R1")]
    first = [_event("CREATED", 0), _event("CREATED", 0)]
    assert db.add_logistics_events(con, first, NOW) == 1
    assert db.add_logistics_events(con, [_event("CREATED", 0), _event("DELIVERED", 9)], NOW) == 1
    assert con.execute("SELECT logistics_status FROM orders").fetchall() == [("DELIVERED",)]
    assert db.orders_to_track(con) == []


def test_latest_balances_and_what_pushed_orders_still_owe(con: duckdb.DuckDBPyConnection) -> None:
    def snapshot(at: datetime, amounts: dict[str, str]) -> list[dict[str, object]]:
        return [
            {"sale_group_code": code, "fetched_at": at, "balance": Decimal(value)}
            for code, value in amounts.items()
        ]

    assert db.append_balances(con, snapshot(NOW, {"SG10": "5.00", "SG20": "1.00"})) == 2
    later = NOW + timedelta(days=1)
    assert db.append_balances(con, snapshot(later, {"SG10": "7.25"})) == 1
    assert db.append_balances(con, snapshot(later, {"SG10": "7.25"})) == 0
    assert db.latest_balances(con) == {"SG10": Decimal("7.25")}
    db.save_order(con, FACTS, db.PUSHED, NOW, retail_order_no="R1")
    db.save_order(con, db.OrderFacts("SO-2", "b", None, Decimal("3.00")), db.CONFIRMED, NOW)
    assert db.unconfirmed_total(con) == Decimal("10.50")
