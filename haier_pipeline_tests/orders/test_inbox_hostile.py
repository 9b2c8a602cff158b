"""The order inbox under hostile or careless input (issue 7: findings 1, 2, 3, 4 and 9).

Every test runs the real push path: OrderPusher over real HTTP against the sandbox, a real
DuckDB file, real files, links and fifos in a real inbox folder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.inbox import (
    RefusedEntry,
    file_fingerprint,
    read_order_bytes,
    set_aside_after_s,
    settle_window_s,
)
from haier_pipeline.orders.pusher import OrderPusher, PushReport
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.orders.factories import make_order_dict, sandbox_pusher, write_order_file

LOG = logging.getLogger("test_inbox_hostile")
COUNTY = "110101"
SECRET_LINE = "root:x:0:0:root:/root:/bin/bash"

MakePusher = Callable[..., OrderPusher]


@pytest.fixture
def make_pusher(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
) -> MakePusher:
    def make(settle_s: float = 0, **options: float) -> OrderPusher:
        return sandbox_pusher(sandbox, clients, warehouse, inbox, LOG, settle_s, **options)

    return make


@pytest.fixture
def code(sandbox: SandboxServer) -> str:
    """A procurable product with stock in COUNTY."""
    return next(
        p.code
        for p in sandbox.catalog.procurable
        if sum(level.qty for level in sandbox.catalog.stock(p.code, COUNTY)) >= 3
    )


def _rejects(warehouse: Warehouse) -> dict[str, tuple[str, str | None]]:
    warehouse.publish()
    rows = warehouse.read("SELECT record_key, reason, raw FROM sync_rejects")
    return {key: (reason, raw) for key, reason, raw in rows}


def _orders(warehouse: Warehouse) -> dict[str, tuple[Any, ...]]:
    warehouse.publish()
    rows = warehouse.read("SELECT so_id, status, retail_order_no, last_error FROM orders")
    return {row[0]: row[1:] for row in rows}


def _processed(inbox: Path, outcome: str) -> list[str]:
    folder = inbox.parent / "processed" / outcome
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def _statuses(report: PushReport) -> dict[str, str]:
    return {outcome.source_file: outcome.status for outcome in report.outcomes}


# -- 1. links, fifos, devices and folders are never read ----------------------------------


def _symlink_to_secret(inbox: Path, name: str) -> None:
    secret = inbox.parent / "passwd"
    secret.write_text(SECRET_LINE + "\n", encoding="utf-8")
    (inbox / name).symlink_to(secret)


def _symlink_to_valid_order(inbox: Path, name: str, code: str) -> None:
    outside = write_order_file(inbox.parent, make_order_dict("SO-OUTSIDE", ((code, 1, "9.00"),)))
    (inbox / name).symlink_to(outside)


def _hard_link_to_secret(inbox: Path, name: str) -> None:
    secret = inbox.parent / "passwd"
    secret.write_text(SECRET_LINE + "\n", encoding="utf-8")
    os.link(secret, inbox / name)


ENTRIES: dict[str, Callable[[Path, str, str], None]] = {
    "symlink to a secret": lambda inbox, name, code: _symlink_to_secret(inbox, name),
    "symlink to a valid order outside": _symlink_to_valid_order,
    "dangling symlink": lambda inbox, name, code: (inbox / name).symlink_to(inbox / "gone"),
    "fifo": lambda inbox, name, code: os.mkfifo(inbox / name),
    "folder": lambda inbox, name, code: (inbox / name).mkdir(),
    "hard link to a secret": lambda inbox, name, code: _hard_link_to_secret(inbox, name),
}


@pytest.mark.timeout(60)  # a fifo opened for reading without O_NONBLOCK would hang here
@pytest.mark.parametrize("kind", list(ENTRIES))
def test_an_entry_that_is_not_a_plain_file_is_recorded_by_name_and_set_aside_unread(
    kind: str,
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    ENTRIES[kind](inbox, "x.json", code)
    write_order_file(inbox, make_order_dict("SO-GOOD", ((code, 1, "9.00"),)))

    report = make_pusher().run("run-1")

    assert _statuses(report) == {"x.json": "rejected", "SO-GOOD.json": "pushed"}
    assert list(sandbox.orders) == ["SO-GOOD"]  # nothing behind a link was pushed
    reason, raw = _rejects(warehouse)["x.json"]
    assert reason.startswith("x.json ") and "it was not read" in reason
    assert raw is None
    assert SECRET_LINE not in json.dumps(warehouse.read("FROM sync_rejects"), default=str)
    assert "SO-OUTSIDE" not in _orders(warehouse)
    assert _processed(inbox, "rejected") == ["x.json"]  # the entry itself, not its target
    assert not os.path.lexists(inbox / "x.json")
    if (inbox.parent / "passwd").exists():
        assert (inbox.parent / "passwd").read_text(encoding="utf-8") == SECRET_LINE + "\n"


def test_a_file_swapped_for_a_link_after_it_was_listed_is_not_read(inbox: Path) -> None:
    path = write_order_file(inbox, make_order_dict("SO-1"))
    listed = os.lstat(path)
    secret = inbox.parent / "passwd"
    secret.write_text(SECRET_LINE, encoding="utf-8")
    swap = inbox / ".swap"
    swap.symlink_to(secret)
    os.replace(swap, path)  # the attacker's swap, between the check and the open

    with pytest.raises(RefusedEntry, match="symbolic link"):
        read_order_bytes(path, expected=listed)
    assert file_fingerprint(path).startswith("entry:")


@pytest.mark.timeout(30)
def test_a_fifo_is_fingerprinted_for_the_sensor_without_being_opened_for_reading(
    inbox: Path,
) -> None:
    os.mkfifo(inbox / "x.json")
    assert file_fingerprint(inbox / "x.json").startswith("entry:")
    with pytest.raises(RefusedEntry, match="not a regular file"):
        read_order_bytes(inbox / "x.json")


# -- 2. a file still being written is left for later, not judged ---------------------------


def test_a_file_written_in_two_steps_is_left_in_the_inbox_and_pushed_once_complete(
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    text = json.dumps(make_order_dict("SO-SLOW", ((code, 1, "9.00"),)), ensure_ascii=False)
    path = inbox / "SO-SLOW.json"
    path.write_text(text[:40], encoding="utf-8")  # the shop's first step

    def finish_later() -> None:
        time.sleep(0.5)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text[40:])

    writer = threading.Thread(target=finish_later)
    writer.start()
    report = make_pusher(settle_s=1.5).run("run-1")
    writer.join()

    assert report.outcomes == [] and report.waiting == ["SO-SLOW.json"]
    assert "1 waiting in the inbox" in report.message()
    assert path.read_text(encoding="utf-8") == text  # still in the inbox, whole
    assert _rejects(warehouse) == {} and _orders(warehouse) == {}
    assert sandbox.create_count("SO-SLOW") == 0

    time.sleep(1.5)
    again = make_pusher(settle_s=1.5).run("run-2")
    assert _statuses(again) == {"SO-SLOW.json": "pushed"}
    assert sandbox.create_count("SO-SLOW") == 1


def test_a_whole_file_that_just_appeared_is_pushed_without_waiting(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    """A fresh file that already parses is whole (half a JSON object never parses): the
    settle window only holds back files that are not yet whole, so a new order goes at once."""
    path = inbox / "SO-FRESH.json"
    path.write_text(json.dumps(make_order_dict("SO-FRESH", ((code, 1, "9.00"),))), "utf-8")

    started = time.monotonic()
    report = make_pusher(settle_s=60.0).run("run-1")

    assert _statuses(report) == {"SO-FRESH.json": "pushed"} and report.waiting == []
    assert time.monotonic() - started < 60  # it did not sit out the window
    assert sandbox.create_count("SO-FRESH") == 1


def test_a_file_dated_in_the_future_is_judged_after_one_window_unchanged(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    path = write_order_file(inbox, make_order_dict("SO-SKEW", ((code, 1, "9.00"),)))
    future = time.time() + 3600
    os.utime(path, (future, future))  # a share whose clock runs an hour ahead

    report = make_pusher(settle_s=0.5).run("run-1")

    assert _statuses(report) == {"SO-SKEW.json": "pushed"}


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "abc", "1e9"])
def test_a_bad_settle_window_names_its_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_ORDER_SETTLE_S", value)
    with pytest.raises(ValueError, match=r"^HAIER_ORDER_SETTLE_S="):
        settle_window_s()


def test_the_settle_window_defaults_to_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAIER_ORDER_SETTLE_S", raising=False)
    assert settle_window_s() == 10.0


# -- issue 15, finding 5: a writer that pauses longer than the settle window ---------------

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_writer_pausing_longer_than_the_settle_window_keeps_its_order(
    make_pusher: MakePusher, sandbox: SandboxServer, warehouse: Warehouse, inbox: Path, code: str
) -> None:
    """The shop writes half the file, keeps it open and pauses past the window: the run
    leaves the half file where it is, waiting; the shop finishes; the next run pushes it."""
    text = json.dumps(make_order_dict("SO-PAUSE", ((code, 1, "9.00"),)), ensure_ascii=False)
    path = inbox / "SO-PAUSE.json"
    with path.open("w", encoding="utf-8") as shop:
        shop.write(text[:40])
        shop.flush()
        report = make_pusher(settle_s=0.3, set_aside_s=HOUR).run("run-1")
        shop.write(text[40:])

    assert report.outcomes == [] and report.waiting == ["SO-PAUSE.json"]
    assert path.read_text(encoding="utf-8") == text  # finished in place, never moved
    assert _rejects(warehouse) == {} and _processed(inbox, "rejected") == []
    again = make_pusher(set_aside_s=HOUR).run("run-2")
    assert _statuses(again) == {"SO-PAUSE.json": "pushed"}
    assert sandbox.create_count("SO-PAUSE") == 1


def test_an_unreadable_file_is_set_aside_only_once_unchanged_for_the_set_aside_time(
    make_pusher: MakePusher, warehouse: Warehouse, inbox: Path
) -> None:
    path = inbox / "SO-BROKEN.json"
    path.write_text('{"soId": "SO-BROKEN", "itemList": [', encoding="utf-8")
    _age(path, 0.5 * HOUR)
    first = make_pusher(set_aside_s=HOUR).run("run-1")
    assert first.waiting == ["SO-BROKEN.json"] and path.exists()
    assert _rejects(warehouse) == {}

    _age(path, 1.5 * HOUR)
    second = make_pusher(set_aside_s=HOUR).run("run-2")
    assert _statuses(second) == {"SO-BROKEN.json": "rejected"} and second.waiting == []
    assert _processed(inbox, "rejected") == ["SO-BROKEN.json"]
    assert "not valid JSON" in _rejects(warehouse)["SO-BROKEN.json"][0]


def test_a_waiting_file_does_not_hold_up_the_run(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    half = inbox / "SO-HALF.json"
    half.write_text('{"soId": "SO-HALF", ', encoding="utf-8")
    _age(half, 120)
    write_order_file(inbox, make_order_dict("SO-WHOLE", ((code, 1, "9.00"),)))

    started = time.monotonic()
    report = make_pusher(settle_s=60.0, set_aside_s=HOUR).run("run-1")

    assert time.monotonic() - started < 30  # no wait for the stalled file
    assert _statuses(report) == {"SO-WHOLE.json": "pushed"} and report.waiting == ["SO-HALF.json"]
    assert "SO-HALF.json" in report.message()


@pytest.mark.parametrize("value", ["nan", "-1", "abc", "1e9"])
def test_a_bad_set_aside_time_names_its_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_ORDER_SET_ASIDE_MIN", value)
    with pytest.raises(ValueError, match=r"^HAIER_ORDER_SET_ASIDE_MIN="):
        set_aside_after_s()


def test_the_set_aside_time_defaults_to_thirty_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAIER_ORDER_SET_ASIDE_MIN", raising=False)
    assert set_aside_after_s() == 30 * 60.0


# -- issue 15, finding 6: at most N files per run ----------------------------------------


def test_a_run_handles_at_most_its_cap_and_the_next_run_takes_the_rest(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    """Files that stay in the inbox (waiting here; failed ones alike) never starve the
    others: a run without named files starts after the last file the previous one took."""
    for n in range(4):
        stalled = inbox / f"A-STALLED-{n}.json"
        stalled.write_text('{"soId": ', encoding="utf-8")
        _age(stalled, 120)
    for so_id in ("SO-B1", "SO-B2"):
        write_order_file(inbox, make_order_dict(so_id, ((code, 1, "9.00"),)))

    first = make_pusher(set_aside_s=HOUR, max_files=3).run("run-1")
    assert first.waiting == [f"A-STALLED-{n}.json" for n in range(3)]
    assert first.left_over == 3 and "3 more file(s) left in the inbox" in first.message()
    second = make_pusher(set_aside_s=HOUR, max_files=3).run("run-2")
    assert second.waiting == ["A-STALLED-3.json"]
    assert _statuses(second) == {"SO-B1.json": "pushed", "SO-B2.json": "pushed"}


def test_named_files_are_capped_too(
    make_pusher: MakePusher, inbox: Path, warehouse: Warehouse
) -> None:
    names = []
    for n in range(5):
        (inbox / f"BAD-{n}.json").write_text("not json", encoding="utf-8")
        names.append(f"BAD-{n}.json")
    report = make_pusher(max_files=2).run("run-1", names)
    assert len(report.outcomes) == 2 and report.left_over == 3
    assert len(list(inbox.glob("*.json"))) == 3


# -- 3. a second file with the same soId ---------------------------------------------------


def test_a_second_file_with_identical_content_is_a_harmless_duplicate(
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    order = make_order_dict("SO-DUP", ((code, 1, "9.00"),))
    write_order_file(inbox, order, "a.json")
    # the same order written differently: other key order, amounts as numbers, defaults spelt out
    reordered = dict(reversed(list(order.items())))
    text = json.dumps(reordered, ensure_ascii=False).replace('"9.00"', "9.0")
    (inbox / "b.json").write_text(text, encoding="utf-8")

    report = make_pusher().run("run-1")

    assert _statuses(report) == {"a.json": "pushed", "b.json": "duplicate"}
    assert sandbox.create_count("SO-DUP") == 1
    number = sandbox.orders["SO-DUP"]["retailOrderNo"]
    assert _orders(warehouse)["SO-DUP"] == ("pushed", number, None)
    reason, _ = _rejects(warehouse)["b.json"]
    assert reason.startswith("harmless duplicate: identical to a.json")
    assert _processed(inbox, "pushed") == ["a.json"]
    assert _processed(inbox, "duplicate") == ["b.json"]
    assert "1 duplicates of orders already pushed" in report.message()


def test_a_second_file_with_different_content_is_rejected_naming_both_files_and_fields(
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    write_order_file(inbox, make_order_dict("SO-TWICE", ((code, 1, "9.00"),)), "first.json")
    assert _statuses(make_pusher().run("run-1")) == {"first.json": "pushed"}
    changed = make_order_dict("SO-TWICE", ((code, 2, "9.00"),), detailAddress="另一个地址 9 号")
    write_order_file(inbox, changed, "second.json")

    report = make_pusher().run("run-2")

    [outcome] = report.outcomes
    assert (outcome.status, outcome.already_pushed) == ("rejected", False)
    for part in ("first.json", "second.json", "detailAddress", "itemList[0].itemQty", "totalAmt"):
        assert part in outcome.detail
    assert sandbox.create_count("SO-TWICE") == 1
    number = sandbox.orders["SO-TWICE"]["retailOrderNo"]
    assert _orders(warehouse)["SO-TWICE"] == ("pushed", number, None)  # the pushed order's row
    assert _rejects(warehouse)["second.json"][0] == outcome.detail
    assert _processed(inbox, "pushed") == ["first.json"]
    assert _processed(inbox, "rejected") == ["second.json"]


def test_the_pushed_file_left_behind_by_a_crash_is_archived_as_pushed_not_as_duplicate(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    path = write_order_file(inbox, make_order_dict("SO-LEFT", ((code, 1, "9.00"),)))
    make_pusher().run("run-1")
    os.replace(inbox.parent / "processed" / "pushed" / path.name, path)  # as if never archived

    report = make_pusher().run("run-2")

    assert [(o.status, o.already_pushed) for o in report.outcomes] == [("pushed", True)]
    assert sandbox.create_count("SO-LEFT") == 1


# -- 4. identifiers and sizes ------------------------------------------------------------------

BAD_IDS = {
    "slash": "a/b",
    "dot-dot": "..",
    "nul": "SO\u00001",
    "space": "SO 1",
    "huge": "S" * 100_000,
    "65 chars": "S" * 65,
}


@pytest.mark.parametrize("field", ["soId", "onlineNo"])
@pytest.mark.parametrize("label", list(BAD_IDS))
def test_a_malformed_order_number_is_rejected_and_never_pushed(
    field: str,
    label: str,
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    order = make_order_dict("SO-OK", ((code, 1, "9.00"),))
    order[field] = BAD_IDS[label]
    write_order_file(inbox, order, "bad.json")

    report = make_pusher().run("run-1")

    [outcome] = report.outcomes
    assert outcome.status == "rejected"
    assert f"{field}: " in outcome.detail
    assert "letters, digits, - and _ only, at most 64 characters" in outcome.detail
    assert sandbox.orders == {}
    stored = _orders(warehouse)
    assert all(len(so_id) <= 64 and "/" not in so_id for so_id in stored)
    assert len(outcome.detail) < 2_000  # the 100,000 characters are not echoed


def test_a_text_field_over_its_cap_is_rejected(
    make_pusher: MakePusher, sandbox: SandboxServer, inbox: Path, code: str
) -> None:
    write_order_file(inbox, make_order_dict("SO-LONG", ((code, 1, "9.00"),), remark="备" * 501))

    [outcome] = make_pusher().run("run-1").outcomes

    assert outcome.status == "rejected"
    assert "remark: has 501 characters, at most 500 are allowed" in outcome.detail
    assert sandbox.orders == {}


def _bytes_read() -> int:
    """Bytes this process has read through read(2) and friends (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar line")


def test_a_fifty_megabyte_file_is_rejected_without_being_read_whole(
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    order = make_order_dict("SO-BIG", ((code, 1, "9.00"),), remark="x" * (50 * 1024 * 1024))

    path = write_order_file(inbox, order)
    before = _bytes_read()
    data = read_order_bytes(path)
    read = _bytes_read() - before
    assert len(data) == 1_000_001 and read < 2 * 1024 * 1024, f"read {read:,} bytes"

    report = make_pusher().run("run-1")

    [outcome] = report.outcomes
    assert outcome.status == "rejected"
    assert "more than 1,000,000 bytes" in outcome.detail
    assert sandbox.orders == {}
    _, raw = _rejects(warehouse)["SO-BIG.json"]
    assert raw is not None and len(raw) <= 10_000


# -- 9. deep nesting ----------------------------------------------------------------------------


def test_a_deeply_nested_order_file_is_rejected_with_a_reason(
    make_pusher: MakePusher,
    sandbox: SandboxServer,
    warehouse: Warehouse,
    inbox: Path,
    code: str,
) -> None:
    order = make_order_dict("SO-DEEP", ((code, 1, "9.00"),))
    text = json.dumps(order)[:-1] + ', "remark": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (inbox / "deep.json").write_text(text, encoding="utf-8")
    write_order_file(inbox, make_order_dict("SO-AFTER", ((code, 1, "9.00"),)))

    report = make_pusher().run("run-1")

    assert _statuses(report) == {"deep.json": "rejected", "SO-AFTER.json": "pushed"}
    reason, _ = _rejects(warehouse)["deep.json"]
    assert "nests objects or lists more than 16 levels deep" in reason
    assert list(sandbox.orders) == ["SO-AFTER"]
