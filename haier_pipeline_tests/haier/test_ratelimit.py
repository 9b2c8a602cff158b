"""The pacer spaces calls evenly across threads: a server bucket of the same size never runs dry."""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from haier_pipeline.haier.ratelimit import CallPacer, shared_pacer


def _acquire_from_threads(pacer: CallPacer, calls: int, threads: int) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()
    left = [calls]

    def worker() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            pacer.acquire()
            with lock:
                stamps.append(time.monotonic())

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sorted(stamps)


def test_calls_are_paced_evenly_across_threads() -> None:
    stamps = _acquire_from_threads(CallPacer(200), calls=60, threads=16)
    elapsed = stamps[-1] - stamps[0]
    assert 59 / 200 * 0.95 <= elapsed < 59 / 200 * 1.5
    # Paced, not bursty: any 50 ms window holds at most the 10 calls the rate allows, plus one.
    busiest = max(bisect.bisect_left(stamps, t + 0.05) - i for i, t in enumerate(stamps))
    assert busiest <= 11


def test_fractional_rates_are_honoured() -> None:
    pacer = CallPacer(20.0 / 3)  # one call per 150 ms
    started = time.monotonic()
    for _ in range(3):
        pacer.acquire()
    assert time.monotonic() - started >= 0.29


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan")])
def test_nonsense_rates_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="HAIER_RATE_LIMIT"):
        CallPacer(rate)


def test_same_client_id_shares_one_pacer() -> None:
    assert shared_pacer("client-x", 100) is shared_pacer("client-x", 100)
    assert shared_pacer("client-x", 100) is not shared_pacer("client-y", 100)
