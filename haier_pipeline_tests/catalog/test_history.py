"""Five days at the emulator, one catalog sync a day: prices change (and change back),
products retire and appear, stock moves, one product's records come back broken for a day,
and the last day changes nothing. The histories must tell exactly that story."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest

from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.storage.schema import HISTORIES, History
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.catalog.scenario import COUNTIES, Days, make_days, sync


@pytest.fixture
def days() -> Days:
    return make_days()


def rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def snapshot(path: Path, history: History) -> set[tuple[Any, ...]]:
    cols = ", ".join((*history.current.local_key, *history.state))
    return set(rows(path, f"SELECT {cols} FROM {history.current.name}"))


def history_rows(path: Path, history: History) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    """Per key (within the one account): (state, valid_from, valid_to), oldest first."""
    n = len(history.current.local_key)
    cols = ", ".join((*history.current.local_key, *history.state, "valid_from", "valid_to"))
    by_key: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows(path, f"SELECT {cols} FROM {history.table.name} ORDER BY valid_from"):
        by_key[row[:n]].append((row[n:-2], row[-2], row[-1]))
    return by_key


def expected_states(snapshots: list[set[tuple[Any, ...]]], n: int) -> dict[tuple, list[tuple]]:
    """Each key's distinct consecutive states over the days' current tables."""
    states: dict[tuple, list[tuple]] = defaultdict(list)
    for snap in snapshots:
        for row in snap:
            key, state = row[:n], row[n:]
            if not states[key] or states[key][-1] != state:
                states[key].append(state)
    return states


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    yield Warehouse(tmp_path / "data" / "haier.duckdb")


def test_five_days_of_syncs_leave_one_row_per_distinct_state(
    days: Days, warehouse: Warehouse
) -> None:
    path = warehouse.path
    snapshots: dict[str, list[set[tuple[Any, ...]]]] = defaultdict(list)
    sync_times: dict[str, Any] = {}
    broken = FaultConfig(malformed_codes=frozenset({days.broken.code}))
    for day, faults in ((1, None), (2, None), (3, broken), (4, None)):
        run_id = sync(days, day, warehouse, faults)
        [(sync_times[run_id],)] = rows(
            path, "SELECT DISTINCT completed_at FROM sync_log WHERE run_id = ?", [run_id]
        )
        for history in HISTORIES:
            snapshots[history.table.name].append(snapshot(path, history))
    counts_before = {
        h.table.name: rows(path, f"SELECT count(*) FROM {h.table.name}") for h in HISTORIES
    }

    sync(days, 4, warehouse)  # day 5: nothing changed at Haier

    for history in HISTORIES:
        name = history.table.name
        assert rows(path, f"SELECT count(*) FROM {name}") == counts_before[name], name
        by_key = history_rows(path, history)
        expected = expected_states(snapshots[name], len(history.current.local_key))
        # every key has exactly one row per distinct state it had, in order
        assert {k: [s for s, _, _ in v] for k, v in by_key.items()} == expected, name
        for key, intervals in by_key.items():
            # contiguous: each row closes exactly when the next opens, at a sync's time
            for (_, _, valid_to), (_, valid_from, _) in pairwise(intervals):
                assert valid_to == valid_from, (name, key)
            assert all(vf in sync_times.values() for _, vf, _ in intervals), (name, key)
        # the open rows are exactly today's current table
        open_rows = {(*k, *v[-1][0]) for k, v in by_key.items() if v[-1][2] is None}
        assert open_rows == snapshot(path, history), name

    prices = history_rows(path, HISTORIES[1])
    day = sync_times
    # A price that changes and changes back has three rows; the other changed one two.
    assert len(prices[(days.bounced.code,)]) == 3
    assert [s[0] for s, _, _ in prices[(days.repriced.code,)]] == [
        days.repriced.supply_price,
        Decimal("1111.00"),
    ]
    # A product whose records came back broken on day 3 kept its open row that day; its
    # change was recorded when it was first seen, on day 4.
    [(_, first_from, first_to), (state, second_from, _)] = prices[(days.broken.code,)]
    assert (first_from, first_to, second_from) == (day["day-1"], day["day-4"], day["day-4"])
    assert state[0] == Decimal("3333.00")

    products = history_rows(path, HISTORIES[0])
    [(_, _, retired_to)] = products[(days.retired.code,)]
    assert retired_to == day["day-2"]  # closed by the first sync that no longer listed it
    for newcomer in days.newcomers:
        [(_, new_from, new_to)] = products[(newcomer.code,)]
        assert (new_from, new_to) == (day["day-2"], None)
    retired_stock = rows(
        path,
        "SELECT count(*) FROM stock_history WHERE product_code = ? AND valid_to IS NULL",
        [days.retired.code],
    )
    assert retired_stock == [(0,)]

    stock = history_rows(path, HISTORIES[2])
    assert [s[0] for s, _, _ in stock[days.moved]][-2:] == [0, 7]


def test_the_catalog_view_is_todays_stock_of_procurable_products(
    days: Days, warehouse: Warehouse
) -> None:
    sync(days, 2, warehouse)
    path = warehouse.path
    catalog = rows(path, "SELECT product_code, county_code, stock_qty FROM catalog")
    stock = rows(
        path,
        "SELECT s.product_code, s.county_code, s.stock_qty FROM stock s "
        "JOIN products p USING (product_code) WHERE p.is_procurable",
    )
    assert sorted(catalog) == sorted(stock)
    today = days.catalog(2)
    expected = {
        (p.code, c, sum(level.qty for level in today.stock(p.code, c)))
        for p in today.procurable
        for c in COUNTIES
    }
    assert set(catalog) == expected
    [(code, county, qty)] = rows(
        path,
        "SELECT product_code, county_code, stock_qty FROM catalog "
        "WHERE product_code = ? AND county_code = ?",
        list(days.moved),
    )
    assert qty == sum(level.qty for level in today.stock(code, county))
