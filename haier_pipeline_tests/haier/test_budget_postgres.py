"""The Postgres call budget within one process, against a real PostgreSQL (its own database per
test): its table and row, slots never granted twice, orders first, the one-second window,
wrong values, another rate, and the one line when the database cannot be used.

Across real processes and "machines": test_budget_postgres_processes.py.
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from haier_pipeline import cli
from haier_pipeline.haier import budget_postgres
from haier_pipeline.haier.budget import (
    BudgetUnavailable,
    FileBudget,
    Priority,
    budget_file,
    budget_for,
)
from haier_pipeline.haier.budget_postgres import CLAIM, RESERVE, PostgresBudget, client_key
from haier_pipeline_tests.postgres import PostgresCluster, free_port

CLIENT = "pg-budget-client"


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def _in_threads(work: Callable[[], None], threads: int) -> None:
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _busiest(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


def test_the_table_and_a_row_keyed_by_a_hash_are_made_at_the_first_call(
    budget_url: str, tmp_path: Path
) -> None:
    PostgresBudget(budget_url, CLIENT, 100).acquire()
    rows = _query(budget_url, "SELECT budget_key, rate, cardinality(sends) FROM haier_call_budget")
    assert rows == [(client_key(CLIENT), 100.0, 1)]
    assert budget_file(tmp_path, CLIENT).name == f"{client_key(CLIENT)}.budget"  # one hash
    assert CLIENT not in client_key(CLIENT)


def test_budget_init_creates_the_table(budget_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["budget", "init"]) == 0
    assert _query(budget_url, "SELECT count(*) FROM haier_call_budget") == [(0,)]
    out = capsys.readouterr().out
    assert "haier_call_budget" in out
    assert "pg-test-Secret" not in out
    assert cli.main(["budget", "init"]) == 0  # again: nothing to do, no error


def test_budget_init_without_the_variable_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HAIER_BUDGET_URL", raising=False)
    assert cli.main(["budget", "init"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "HAIER_BUDGET_URL" in line


def test_the_url_chooses_the_postgres_budget_and_without_it_the_file(
    budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(budget_for(CLIENT, 100), PostgresBudget)
    monkeypatch.delenv("HAIER_BUDGET_URL")
    assert isinstance(budget_for(CLIENT, 100), FileBudget)


def test_slots_are_never_granted_twice_by_concurrent_connections(budget_url: str) -> None:
    budgets = [PostgresBudget(budget_url, CLIENT, 1000) for _ in range(6)]
    budgets[0].acquire()  # the row exists; the rest connect as they go
    granted: list[Any] = []
    claimed: list[Any] = []
    lock = threading.Lock()

    def reserve(budget: PostgresBudget) -> None:
        slots = [budget._statement(RESERVE)[0] for _ in range(100)]
        with lock:
            granted.extend(slots)

    def claim(budget: PostgresBudget) -> None:
        slots = [budget._statement(CLAIM)[0] for _ in range(30)]
        with lock:
            claimed.extend(slots)

    workers = [threading.Thread(target=reserve, args=(b,)) for b in budgets[:4]]
    workers += [threading.Thread(target=claim, args=(b,)) for b in budgets[4:]]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(granted)) == 400  # a lost update would hand one slot to two callers
    assert len(set(claimed)) == 60  # no two orders take the same slot
    ordered = sorted(granted)
    step = budgets[0].step
    assert all(later - earlier >= step for earlier, later in itertools.pairwise(ordered))


def test_an_order_takes_the_earliest_slot_a_bulk_caller_reserved(budget_url: str) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 20)
    # Forty bulk slots (2 s at 20/s) reserved ahead, as by a sync's threads.
    bulk = [budget._statement(RESERVE)[0] for _ in range(40)]
    started = time.monotonic()
    budget.acquire(Priority.ORDER)
    waited = time.monotonic() - started
    assert waited < 0.5, f"the order waited {waited:.2f} s behind 2 s of bulk slots"
    [(claims,)] = _query(budget_url, "SELECT claims FROM haier_call_budget")
    assert claims[0] in bulk[:5]


def test_a_bulk_caller_whose_slot_an_order_took_waits_for_a_new_one(budget_url: str) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 20)
    budget._statement(RESERVE)  # now: due at once
    reserved, _ = budget._statement(RESERVE)  # one interval (50 ms) ahead
    taken, _ = budget._statement(CLAIM)
    assert taken == reserved
    outcome, slot, delay, _ = budget._statement(budget_postgres.SEND, slot=reserved)
    assert outcome == "displaced"
    assert slot == reserved + budget.step  # the end of the timeline
    assert 0 < delay <= 0.15


def test_calls_from_many_threads_are_paced_and_a_second_never_holds_more_than_the_rate(
    budget_url: str,
) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 20)
    sent: list[float] = []
    lock = threading.Lock()
    left = [50]

    def caller() -> None:
        while True:
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            budget.acquire()
            with lock:
                sent.append(time.monotonic())

    _in_threads(caller, 12)
    assert _busiest(sent) <= 20
    assert sent[-1] - sent[0] >= 49 / 20 * 0.95


def test_callers_that_woke_late_never_make_a_second_hold_more_than_the_rate(
    budget_url: str,
) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 20)
    late = [budget._statement(RESERVE) for _ in range(10)]
    time.sleep(late[-1][1] + 0.05)  # ten callers stalled past their slots...
    sent: list[float] = []
    for slot, _ in late:  # ...send at once,
        outcome, *_ = budget._statement(budget_postgres.SEND, slot=slot)
        assert outcome == "sent"
        sent.append(time.monotonic())
    for _ in range(20):  # and the next callers, on time, must not add to that second.
        budget.acquire()
        sent.append(time.monotonic())
    assert _busiest(sent) <= 20


def test_values_that_cannot_be_right_never_make_a_caller_wait(budget_url: str) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 50)
    budget.acquire()
    # The database clock stepped back a day (or a hand edit): a next slot, claims and sends
    # all a day ahead.
    _query(
        budget_url,
        "UPDATE haier_call_budget SET next_slot = clock_timestamp() + interval '1 day', "
        "claims = ARRAY[clock_timestamp() + interval '1 day'], "
        "sends = array_fill(clock_timestamp() + interval '1 day', ARRAY[50])",
    )
    started = time.monotonic()
    for priority in (Priority.BULK, Priority.ORDER, Priority.BULK):
        budget.acquire(priority)
    assert time.monotonic() - started < 1.0
    [(ahead,)] = _query(
        budget_url, "SELECT next_slot - clock_timestamp() < interval '1 s' FROM haier_call_budget"
    )
    assert ahead


def test_another_rate_on_the_same_client_id_is_refused_while_the_row_is_in_use(
    budget_url: str,
) -> None:
    PostgresBudget(budget_url, CLIENT, 40).acquire()
    with pytest.raises(BudgetUnavailable) as refused:
        PostgresBudget(budget_url, CLIENT, 100).acquire()
    message = str(refused.value)
    assert "HAIER_RATE_LIMIT is 100 calls/s" in message and "uses 40 calls/s" in message
    assert "\n" not in message
    # Unused for over a minute, the row takes the new rate.
    _query(budget_url, "UPDATE haier_call_budget SET used_at = used_at - interval '2 min'")
    PostgresBudget(budget_url, CLIENT, 100).acquire()
    assert _query(budget_url, "SELECT rate FROM haier_call_budget") == [(100.0,)]


def _refusal(url: str) -> str:
    with pytest.raises(BudgetUnavailable) as refused:
        PostgresBudget(url, CLIENT, 100).acquire()
    return str(refused.value)


def test_a_database_that_cannot_be_reached_names_the_variable_in_one_line(
    postgres: PostgresCluster,
) -> None:
    closed = postgres.url().replace(f":{postgres.port}/", f":{free_port()}/")
    message = _refusal(closed)
    assert message.startswith("the call budget at HAIER_BUDGET_URL=postgresql://***@127.0.0.1:")
    assert "\n" not in message and "Connection refused" in message
    assert postgres.password not in message


def test_a_refused_password_is_never_shown(
    postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Budget-Password-7731"
    message = _refusal(postgres.url().replace(postgres.password, wrong))
    assert "password authentication failed" in message and wrong not in message
    # The password from PGPASSWORD instead: masked the same way wherever it would show.
    monkeypatch.setenv("PGPASSWORD", wrong)
    message = _refusal(postgres.url(with_password=False))
    assert "HAIER_BUDGET_URL=postgresql://***@" in message and wrong not in message
    assert budget_postgres.mask(f"it was {wrong}") == "it was ***"
    assert wrong not in caplog.text


def test_a_lost_connection_is_made_again(budget_url: str) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 100)
    budget.acquire()
    _query(
        budget_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'haier-pipeline call budget'",
    )
    budget.acquire()
    assert _query(budget_url, "SELECT cardinality(sends) FROM haier_call_budget") == [(2,)]


def _acquire_in_child(budget: PostgresBudget) -> None:
    budget.acquire()


def test_a_forked_child_connects_anew_and_leaves_its_parents_session_alone(
    budget_url: str,
) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 100)
    budget.acquire()
    [connection] = budget._idle
    session = connection.get_backend_pid()
    child = multiprocessing.get_context("fork").Process(target=_acquire_in_child, args=(budget,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    budget.acquire()
    assert budget._idle == [connection] and connection.get_backend_pid() == session
    assert _query(budget_url, "SELECT cardinality(sends) FROM haier_call_budget") == [(3,)]


def test_threads_share_a_few_connections(budget_url: str) -> None:
    budget = PostgresBudget(budget_url, CLIENT, 500)
    _in_threads(lambda: [budget.acquire() for _ in range(10)], 16)
    [(sessions,)] = _query(
        budget_url,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'haier-pipeline call budget'",
    )
    assert 1 < sessions <= budget_postgres.POOL_SIZE
    assert len(budget._idle) == sessions
