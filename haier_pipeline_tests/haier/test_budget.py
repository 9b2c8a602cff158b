"""The call budget within one process: even pacing, orders first, its file, stale state.

The budget across processes (the point of it) is tested in test_budget_processes.py.
"""

from __future__ import annotations

import bisect
import functools
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from haier_pipeline.environment import HAIER_RATE_LIMIT, SettingError
from haier_pipeline.haier import budget as budget_module
from haier_pipeline.haier import endpoints
from haier_pipeline.haier.budget import (
    LAG_FACTOR,
    LAG_HALF_LIFE_S,
    MIN_HEADROOM_S,
    QUIET_S,
    BudgetUnavailable,
    FileBudget,
    Priority,
    budget_file,
    budget_for,
    current_priority,
    serving_orders,
)
from haier_pipeline.haier.budget_store import (
    FILE_SIZE,
    MAX_WINDOW,
    Header,
    write_header,
    write_sent,
)
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline_tests.haier.stub import FAST_RETRY, StubServer, ok, ylh_settings
from haier_pipeline_tests.haier.test_ylh import CREATE, ORDER, path


def write_stored(path: Path, header: Header) -> None:
    """Put ``header`` into the budget file at ``path`` as a process of the budget would."""
    fd = os.open(path, os.O_RDWR)
    try:
        write_header(fd, header)
    finally:
        os.close(fd)


def _acquire_from_threads(budget: FileBudget, calls: int, threads: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()
    left = [calls]

    def worker() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            budget.acquire()
            with lock:
                stamps.append(time.monotonic())

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sorted(stamps)


def test_calls_are_paced_evenly_across_threads(tmp_path: Path) -> None:
    stamps = _acquire_from_threads(FileBudget(tmp_path / "b", 200), calls=60, threads=16)
    assert stamps[-1] - stamps[0] >= 59 / 200 * 0.95
    # Paced, not bursty: any 50 ms window holds at most the 10 calls the rate allows, plus one.
    busiest = max(bisect.bisect_left(stamps, t + 0.05) - i for i, t in enumerate(stamps))
    assert busiest <= 11


def test_two_budget_objects_on_one_file_share_the_pace(tmp_path: Path) -> None:
    first, second = FileBudget(tmp_path / "b", 100), FileBudget(tmp_path / "b", 100)
    started = time.monotonic()
    for _ in range(10):
        first.acquire()
        second.acquire()
    assert time.monotonic() - started >= 19 / 100 * 0.95


def test_fractional_rates_are_honoured(tmp_path: Path) -> None:
    budget = FileBudget(tmp_path / "b", 20.0 / 3)  # one call per 150 ms
    started = time.monotonic()
    for _ in range(3):
        budget.acquire()
    assert time.monotonic() - started >= 0.29


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan")])
def test_nonsense_rates_are_refused(tmp_path: Path, rate: float) -> None:
    with pytest.raises(ValueError, match="HAIER_RATE_LIMIT"):
        FileBudget(tmp_path / "b", rate)


def test_an_order_call_takes_the_earliest_slot_a_bulk_caller_reserved(tmp_path: Path) -> None:
    budget = FileBudget(tmp_path / "b", 20)  # 50 ms apart
    done: list[str] = []
    bulk = [
        threading.Thread(target=lambda: (budget.acquire(), done.append("bulk"))) for _ in range(8)
    ]
    for thread in bulk:
        thread.start()
    time.sleep(0.06)  # the 8 bulk calls hold the next 400 ms
    budget.acquire(Priority.ORDER)
    done.append("order")
    for thread in bulk:
        thread.join()
    # Behind them, the order would come last; it displaces one and goes within a slot or two.
    assert done.index("order") <= 3, done
    assert len(done) == 9


def test_a_displaced_bulk_caller_reserves_again_so_no_slot_is_used_twice(tmp_path: Path) -> None:
    budget = FileBudget(tmp_path / "b", 50)
    stamps: list[float] = []
    lock = threading.Lock()

    def call(priority: Priority) -> None:
        budget.acquire(priority)
        with lock:
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=call, args=(Priority.BULK,)) for _ in range(20)]
    threads += [threading.Thread(target=call, args=(Priority.ORDER,)) for _ in range(10)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 30 calls at 50/s take at least 29 intervals: an order never shares a slot.
    assert max(stamps) - started >= 29 / 50 * 0.95


def test_orders_are_named_by_the_code_that_makes_the_calls() -> None:
    assert current_priority() is Priority.BULK
    seen: list[Priority] = []
    with serving_orders():
        seen.append(current_priority())
        other = threading.Thread(target=lambda: seen.append(current_priority()))
        other.start()
        other.join()
    seen.append(current_priority())
    assert seen == [Priority.ORDER, Priority.BULK, Priority.BULK]


def test_one_budget_per_client_id_and_rate_in_a_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_BUDGET_DIR", str(tmp_path))
    assert budget_for("client-x", 100) is budget_for("client-x", 100)
    assert budget_for("client-x", 100) is not budget_for("client-y", 100)


def test_the_file_is_named_by_a_hash_of_the_client_id(tmp_path: Path) -> None:
    path = budget_file(tmp_path, "my-client-id")
    assert path.parent == tmp_path
    assert "my-client-id" not in path.name
    assert path != budget_file(tmp_path, "my-client-id-2")
    FileBudget(path, 10).acquire()
    assert b"my-client-id" not in path.read_bytes()


def test_state_from_an_earlier_boot_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "b"
    FileBudget(path, 10).acquire()
    # Another boot's clock, used two minutes ago: its next free slot lies an hour ahead of ours.
    stale = Header(boot=b"\x01" * 16, rate=10, used_at=time.time() - 120)
    stale.next_slot = time.monotonic() + 3600
    write_stored(path, stale)
    waiter = threading.Thread(target=FileBudget(path, 10).acquire, daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive()


def test_an_unwritable_folder_names_the_setting(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(BudgetUnavailable, match="HAIER_BUDGET_DIR"):
        FileBudget(blocked / "sub" / "b", 10)


def test_the_default_folder_is_in_the_temp_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAIER_BUDGET_DIR", raising=False)
    assert (
        budget_module.budget_dir() == Path(tempfile.gettempdir()) / f"haier-budget-{os.geteuid()}"
    )


def test_pushes_and_their_token_go_first_other_ylh_calls_wait(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Priority] = []
    acquire = FileBudget.acquire

    def recording(self: FileBudget, priority: Priority = Priority.BULK) -> None:
        seen.append(priority)
        acquire(self, priority)

    monkeypatch.setattr(FileBudget, "acquire", recording)
    stub.script(CREATE, ok({"retailOrderNo": "SO.20250430.000001", "soId": "SO-42"}))
    stub.script(path(endpoints.YLH_LOGISTICS_NUMBERS), ok([]))
    with YlhClient(ylh_settings(stub), retry=FAST_RETRY) as ylh:
        ylh.create_order(ORDER)  # the token, then the push
        ylh.logistics_numbers(["SO.20250430.000001"])
    assert seen == [Priority.ORDER, Priority.ORDER, Priority.BULK]


def test_callers_that_woke_late_never_make_a_second_hold_more_than_the_rate(
    tmp_path: Path,
) -> None:
    budget = FileBudget(tmp_path / "b", 20)
    # Ten slots reserved by callers that then stall past them (a busy CPU)...
    late = [budget._update(budget._reserve) for _ in range(10)]
    time.sleep(late[-1] - time.monotonic() + 0.05)
    sent: list[float] = []
    for slot in late:  # ...send all at once,
        budget._update(functools.partial(budget._send, slot))
        sent.append(time.monotonic())
    for _ in range(20):  # and the next callers, on time, must not add to that second.
        budget.acquire()
        sent.append(time.monotonic())
    busiest = max(bisect.bisect_left(sent, t + 1.0) - i for i, t in enumerate(sent))
    assert busiest <= 20


def _returns_soon(budget: FileBudget, priority: Priority = Priority.BULK) -> None:
    waiter = threading.Thread(target=budget.acquire, args=(priority,), daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "acquire() still waits after 10 s"


def _stored(path: Path, **values: float) -> Header:
    """A header of this machine and rate 10, used just now, with ``values`` changed."""
    header = Header(boot=budget_module._BOOT_ID, rate=10, used_at=time.time())
    for name, value in values.items():
        setattr(header, name, value)
    return header


@pytest.mark.parametrize(
    "values",
    [
        {"next_slot": time.monotonic() + 1e6},  # would sleep 11.6 days
        {"next_slot": float("inf")},  # OverflowError on every call
        {"next_slot": float("nan")},
        {"lag": float("nan")},
        {"lag": 50.0},
        {"head": 5_000},
        {"rate": float("nan")},
        {"rate": 0.0},
    ],
    ids=["1e6-s-ahead", "inf", "nan", "nan-lag", "huge-lag", "head", "nan-rate", "zero-rate"],
)
def test_impossible_values_are_reset_and_logged_once(
    tmp_path: Path, values: dict[str, float], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "b"
    budget = FileBudget(path, 10)
    write_stored(path, _stored(path, **values))
    _returns_soon(budget)
    write_stored(path, _stored(path, **values))
    _returns_soon(budget, Priority.ORDER)
    told = [r.getMessage() for r in caplog.records if "started afresh" in r.getMessage()]
    assert len(told) == 1, told
    assert str(path) in told[0]


def test_send_times_in_the_future_are_reset(tmp_path: Path) -> None:
    path = tmp_path / "b"
    budget = FileBudget(path, 10)
    fd = os.open(path, os.O_RDWR)
    try:
        for index in range(MAX_WINDOW):
            write_sent(fd, index, time.monotonic() + 1e6)
    finally:
        os.close(fd)
    for _ in range(3):
        _returns_soon(budget)


def test_a_file_truncated_between_calls_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "b"
    budget = FileBudget(path, 100)
    for size in (0, 100, FILE_SIZE - 8):
        budget.acquire()
        os.truncate(path, size)
        budget.acquire()
        assert path.stat().st_size == FILE_SIZE


@pytest.mark.parametrize("rate", [0.001, 1e-9, 0.99])
def test_a_rate_below_one_call_a_second_is_refused_naming_the_variable(
    tmp_path: Path, rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="HAIER_RATE_LIMIT"):
        FileBudget(tmp_path / "b", rate)
    monkeypatch.setenv("HAIER_RATE_LIMIT", f"{rate:g}")
    with pytest.raises(SettingError, match=r"HAIER_RATE_LIMIT.*from 1 "):
        HAIER_RATE_LIMIT.value(HAIER_RATE_LIMIT.text())


def test_another_rate_on_the_same_client_id_is_refused_naming_both(tmp_path: Path) -> None:
    FileBudget(tmp_path / "b", 100).acquire()
    with pytest.raises(BudgetUnavailable) as refused:
        FileBudget(tmp_path / "b", 40)
    message = str(refused.value)
    assert "in use at 100 calls/s" in message
    assert "asks for 40 calls/s" in message
    assert "HAIER_RATE_LIMIT" in message and "rate_limit" in message
    assert "\n" not in message


def test_a_budget_unused_for_a_minute_takes_a_new_rate(tmp_path: Path) -> None:
    path = tmp_path / "b"
    FileBudget(path, 100).acquire()
    write_stored(path, _stored(path, rate=100, used_at=time.time() - QUIET_S - 1))
    FileBudget(path, 40).acquire()
    with pytest.raises(BudgetUnavailable, match="in use at 40 calls/s"):
        FileBudget(path, 100)


def test_a_file_used_by_another_machine_within_a_minute_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b"
    FileBudget(path, 10).acquire()
    write_stored(path, _stored(path, boot=b"\x02" * 16, used_at=time.time() - 30))
    with pytest.raises(BudgetUnavailable) as refused:
        FileBudget(path, 10)
    assert "another machine" in str(refused.value)
    assert "HAIER_BUDGET_URL" in str(refused.value)


def test_the_headroom_is_small_while_callers_wake_on_time_and_grows_when_late(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b"
    budget = FileBudget(path, 20)
    write_stored(path, _stored(path, rate=20, lag=0.0, lag_at=time.monotonic()))
    assert budget.headroom_s() == pytest.approx(MIN_HEADROOM_S)
    slot = budget._update(budget._reserve)
    time.sleep(slot - time.monotonic() + 0.04)  # a caller 40 ms late, as on a busy CPU
    budget._update(functools.partial(budget._use, slot))
    assert budget.headroom_s() >= MIN_HEADROOM_S + LAG_FACTOR * 0.04 * 0.9
    # The peak halves every LAG_HALF_LIFE_S: four half-lives later, a sixteenth is left.
    long_ago = time.monotonic() - 4 * LAG_HALF_LIFE_S
    write_stored(path, _stored(path, rate=20, lag=0.04, lag_at=long_ago))
    expected = MIN_HEADROOM_S + LAG_FACTOR * 0.04 / 16
    assert budget.headroom_s() == pytest.approx(expected, rel=0.01)
