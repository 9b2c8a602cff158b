"""OrderPusher without Dagster: a crash at each step loses no order and pushes none twice.

A crash is a BaseException raised at the chosen moment (what kill -9 does to the rest of the
run); the next run then starts from whatever the warehouse and the inbox hold.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders import pusher
from haier_pipeline.orders.pusher import EmptyCatalog, OrderPusher
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.orders.factories import make_order_dict, sandbox_pusher, write_order_file

COUNTY = "110101"
LOG = logging.getLogger("test_pusher")


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, not even except Exception handlers."""


def _pusher(
    sandbox: SandboxServer, clients: tuple[JshClient, YlhClient], warehouse: Warehouse, inbox: Path
) -> OrderPusher:
    return sandbox_pusher(sandbox, clients, warehouse, inbox, LOG)


def _stocked(sandbox: SandboxServer, count: int) -> list[str]:
    codes = [
        p.code
        for p in sandbox.catalog.procurable
        if sum(level.qty for level in sandbox.catalog.stock(p.code, COUNTY)) >= 1
    ]
    return codes[:count]


def _orders(warehouse: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = warehouse.read("SELECT so_id, status, retail_order_no, push_attempts FROM orders")
    return {row[0]: row[1:] for row in rows}


def _stock_queries(sandbox: SandboxServer, code: str) -> int:
    return sum(1 for query in sandbox.stats()["stock_queries"] if query[0] == code)


def test_a_crash_after_the_push_left_is_finished_by_a_re_push_without_re_checks(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [code] = _stocked(sandbox, 1)
    write_order_file(inbox, make_order_dict("SO-CRASH", ((code, 1, "99.00"),)))
    ylh = clients[1]
    real_create = ylh.create_order

    def create_then_die(order: Any) -> Any:
        real_create(order)
        raise Crash

    monkeypatch.setattr(ylh, "create_order", create_then_die)
    with pytest.raises(Crash):
        _pusher(sandbox, clients, warehouse, inbox).run("run-1")
    warehouse.publish()
    assert _orders(warehouse) == {"SO-CRASH": ("pending", None, 1)}
    assert warehouse.read("SELECT status FROM sync_log WHERE run_id = 'run-1'") == [("failed",)]
    monkeypatch.undo()
    stock_checks = _stock_queries(sandbox, code)

    report = _pusher(sandbox, clients, warehouse, inbox).run("run-2")

    original = sandbox.orders["SO-CRASH"]["retailOrderNo"]
    assert [(o.status, o.detail, o.already_pushed) for o in report.outcomes] == [
        ("pushed", original, True)
    ]
    assert _orders(warehouse) == {"SO-CRASH": ("pushed", original, 2)}
    assert list(sandbox.orders) == ["SO-CRASH"]
    assert _stock_queries(sandbox, code) == stock_checks  # our own order may have taken it
    assert list(inbox.glob("*.json")) == []


def test_a_crash_between_recording_and_archiving_calls_nobody_again(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [code] = _stocked(sandbox, 1)
    write_order_file(inbox, make_order_dict("SO-ARCHIVE", ((code, 1, "99.00"),)))

    def die(path: Path, outcome: str) -> Path:
        raise Crash

    monkeypatch.setattr(pusher, "archive", die)
    with pytest.raises(Crash):
        _pusher(sandbox, clients, warehouse, inbox).run("run-1")
    monkeypatch.undo()
    sandbox.reset_stats()

    report = _pusher(sandbox, clients, warehouse, inbox).run("run-2")

    assert [o.status for o in report.outcomes] == ["pushed"]
    assert sandbox.create_count("SO-ARCHIVE") == 1
    assert sandbox.stats()["stock_queries"] == []
    assert report.api_calls == 0
    assert (inbox.parent / "processed" / "pushed" / "SO-ARCHIVE.json").exists()


def test_two_pushers_on_one_inbox_push_each_order_once(
    sandbox: SandboxServer, warehouse: Warehouse, inbox: Path
) -> None:
    codes = _stocked(sandbox, 8)
    for index, code in enumerate(codes):
        write_order_file(inbox, make_order_dict(f"SO-{index}", ((code, 1, "10.00"),)))
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            with JshClient(sandbox.jsh_settings()) as jsh, YlhClient(sandbox.ylh_settings()) as y:
                _pusher(sandbox, (jsh, y), warehouse, inbox).run(run_id)
        except BaseException as error:  # reported below, so a thread's failure fails the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(sandbox.create_count(f"SO-{i}") == 1 for i in range(len(codes)))
    assert {row[0] for row in _orders(warehouse).values()} == {"pushed"}


def test_a_stock_answer_that_cannot_be_read_fails_the_order_for_a_retry(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
) -> None:
    [code] = _stocked(sandbox, 1)
    write_order_file(inbox, make_order_dict("SO-NA", ((code, 1, "10.00"),)))
    sandbox.faults = FaultConfig(malformed_codes=frozenset({code}))
    report = _pusher(sandbox, clients, warehouse, inbox).run("run-1")

    [outcome] = report.outcomes
    assert outcome.status == "failed" and "stock not confirmed" in outcome.detail
    assert sandbox.create_count("SO-NA") == 0
    assert (inbox / "SO-NA.json").exists()
    assert warehouse.read(
        "SELECT status, total_count, success_count, failed_count FROM sync_log"
    ) == [("failed", 1, 0, 1)]


def test_a_file_broken_after_a_possible_push_is_kept_not_rejected(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [code] = _stocked(sandbox, 1)
    order = make_order_dict("SO-EDIT", ((code, 1, "99.00"),))
    path = write_order_file(inbox, order)
    ylh = clients[1]
    real_create = ylh.create_order

    def create_then_die(payload: Any) -> Any:
        real_create(payload)
        raise Crash

    monkeypatch.setattr(ylh, "create_order", create_then_die)
    with pytest.raises(Crash):
        _pusher(sandbox, clients, warehouse, inbox).run("run-1")
    monkeypatch.undo()
    write_order_file(inbox, {**order, "totalAmt": "1.00"})

    [outcome] = _pusher(sandbox, clients, warehouse, inbox).run("run-2").outcomes
    assert outcome.status == "failed"
    assert "may have reached YLH" in outcome.detail and "totalAmt" in outcome.detail
    assert path.exists()

    write_order_file(inbox, order)
    [outcome] = _pusher(sandbox, clients, warehouse, inbox).run("run-3").outcomes
    assert (outcome.status, outcome.already_pushed) == ("pushed", True)
    assert _orders(warehouse)["SO-EDIT"][:2] == (
        "pushed",
        sandbox.orders["SO-EDIT"]["retailOrderNo"],
    )


def test_without_a_synced_catalog_the_run_stops_before_touching_any_file(
    sandbox: SandboxServer, clients: tuple[JshClient, YlhClient], tmp_path: Path, inbox: Path
) -> None:
    [code] = _stocked(sandbox, 1)
    path = write_order_file(inbox, make_order_dict("SO-EARLY", ((code, 1, "9.00"),)))
    empty = Warehouse(tmp_path / "empty" / "haier.duckdb")

    with pytest.raises(EmptyCatalog, match="run catalog_sync first"):
        _pusher(sandbox, clients, empty, inbox).run("run-1")
    assert path.exists()
    assert empty.read("SELECT count(*) FROM orders") == [(0,)]
    assert empty.read("SELECT status FROM sync_log") == [("failed",)]
