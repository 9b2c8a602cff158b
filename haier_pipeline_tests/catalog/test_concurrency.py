"""call_all keeps calls in flight, reports Haier errors per item and lets bugs surface."""

import threading
import time

import pytest

from haier_pipeline.catalog.concurrency import call_all
from haier_pipeline.haier.errors import HaierBusinessError


def test_calls_overlap_up_to_max_workers_and_every_item_is_answered_once() -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()

    def slow_square(n: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return n * n

    results = {item: result for item, result, _ in call_all(slow_square, range(80), 8)}
    assert results == {n: n * n for n in range(80)}
    assert peak == 8  # eight calls were in flight at once, never more


def test_a_haier_error_is_returned_for_its_item_and_the_rest_go_on() -> None:
    def refuse_odd(n: int) -> int:
        if n % 2:
            raise HaierBusinessError("E1", "no", "/path")
        return n

    outcomes = {item: (result, error) for item, result, error in call_all(refuse_odd, range(6), 3)}
    assert outcomes[2] == (2, None)
    assert isinstance(outcomes[3][1], HaierBusinessError)


def test_a_bug_is_raised_not_swallowed() -> None:
    def broken(n: int) -> int:
        raise KeyError(n)

    with pytest.raises(KeyError):
        list(call_all(broken, range(5), 2))
