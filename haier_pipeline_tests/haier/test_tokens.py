"""Token parsing and the thread-safe cache (expiry, one refresh at a time)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from haier_pipeline.haier.errors import HaierProtocolError
from haier_pipeline.haier.tokens import Token, TokenCache, parse_token


def test_token_found_at_top_level_or_under_data() -> None:
    assert parse_token("/t", {"access_token": "a", "expires_in": 3600}) == Token("a", 3600.0)
    nested = {"success": True, "data": {"access_token": "b", "expires_in": Decimal("7200")}}
    assert parse_token("/t", nested) == Token("b", 7200.0)
    assert parse_token("/t", {"access_token": "c"}).expires_in_s == 3600.0
    assert parse_token("/t", {"access_token": "d", "expires_in": "60"}).expires_in_s == 60.0


@pytest.mark.parametrize(
    "payload",
    [{}, {"access_token": ""}, {"data": None}, [], "token", {"access_token": 5}],
)
def test_answer_without_token_is_a_protocol_error(payload: object) -> None:
    with pytest.raises(HaierProtocolError, match="no access_token"):
        parse_token("/oauth2/auth", payload)


def test_bad_lifetime_is_a_protocol_error() -> None:
    with pytest.raises(HaierProtocolError, match="expires_in"):
        parse_token("/t", {"access_token": "a", "expires_in": -1})


def test_token_repr_hides_the_value() -> None:
    assert "sekrit" not in repr(Token("sekrit", 1.0))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_refreshes_600_s_before_expiry() -> None:
    clock = FakeClock()
    issued = iter(["t1", "t2"])
    refreshes = []
    cache = TokenCache(
        lambda: Token(next(issued), 3600), clock=clock, on_refresh=lambda: refreshes.append(1)
    )
    assert cache.get() == "t1"
    clock.now = 2999.0
    assert cache.get() == "t1"
    clock.now = 3000.0
    assert cache.get() == "t2"
    assert refreshes == [1]


def test_short_lived_tokens_refresh_at_half_life() -> None:
    clock = FakeClock()
    issued = iter(["t1", "t2"])
    cache = TokenCache(lambda: Token(next(issued), 60), clock=clock)
    assert cache.get() == "t1"
    clock.now = 29.0
    assert cache.get() == "t1"
    clock.now = 30.0
    assert cache.get() == "t2"


def test_invalidate_ignores_a_token_already_replaced() -> None:
    issued = iter(["t1", "t2", "t3"])
    cache = TokenCache(lambda: Token(next(issued), 3600))
    assert cache.get() == "t1"
    cache.invalidate("t1")
    assert cache.get() == "t2"
    cache.invalidate("t1")  # a late thread still holding t1
    assert cache.get() == "t2"


def test_many_threads_refused_at_once_cause_one_fetch() -> None:
    fetches = []

    def fetch() -> Token:
        fetches.append(1)
        time.sleep(0.02)
        return Token(f"t{len(fetches)}", 3600)

    cache = TokenCache(fetch)
    stale = cache.get()
    barrier = threading.Barrier(16)
    seen = []

    def worker() -> None:
        barrier.wait()
        cache.invalidate(stale)
        seen.append(cache.get())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fetches) == 2
    assert set(seen) == {"t2"}


def test_waiters_share_a_failed_fetch_instead_of_repeating_it() -> None:
    calls = []
    started = threading.Event()

    def fetch() -> Token:
        calls.append(1)
        started.set()
        time.sleep(0.05)
        raise HaierProtocolError("/t", "down")

    cache = TokenCache(fetch)
    errors: list[Exception] = []

    def worker() -> None:
        try:
            cache.get()
        except HaierProtocolError as exc:
            errors.append(exc)

    first = threading.Thread(target=worker)
    first.start()
    started.wait()
    waiters = [threading.Thread(target=worker) for _ in range(5)]
    for t in waiters:
        t.start()
    for t in [first, *waiters]:
        t.join()
    assert len(errors) == 6
    assert len(calls) == 1
