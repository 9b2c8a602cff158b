"""Access tokens: reading them from an answer, caching them, refreshing them once.

Both Haier systems hand out tokens valid for 3600 s; we refresh 600 s early so a call never
leaves with a token that expires in flight. Many worker threads share one cache: when the
token dies they all see 401 at once, and only the first of them fetches a new one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from haier_pipeline.haier import fields
from haier_pipeline.haier.errors import HaierProtocolError

DEFAULT_LIFETIME_S = 3600.0
REFRESH_EARLY_S = 600.0


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_in_s: float


def parse_token(endpoint: str, payload: Any) -> Token:
    """The token at the top level or under ``data`` (both shapes are in use)."""
    found = _token_holder(payload)
    if found is None:
        raise HaierProtocolError(endpoint, f"no {fields.ACCESS_TOKEN} in the token answer")
    lifetime = found.get(fields.EXPIRES_IN)
    if lifetime is None:
        return Token(found[fields.ACCESS_TOKEN], DEFAULT_LIFETIME_S)
    if isinstance(lifetime, str) and lifetime.strip().isdigit():
        lifetime = int(lifetime.strip())
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | Decimal) or lifetime <= 0:
        raise HaierProtocolError(endpoint, f"{fields.EXPIRES_IN} is not a positive number")
    return Token(found[fields.ACCESS_TOKEN], float(lifetime))


def _token_holder(payload: Any) -> Mapping[str, Any] | None:
    candidates = [payload]
    if isinstance(payload, Mapping):
        candidates.append(payload.get(fields.DATA))
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            value = candidate.get(fields.ACCESS_TOKEN)
            if isinstance(value, str) and value.strip():
                return candidate
    return None


class TokenCache:
    """Thread-safe cache around a token-fetching function.

    ``refresh_early_s`` is capped at half the lifetime so a gateway handing out short-lived
    tokens does not make every call fetch a new one.
    """

    def __init__(
        self,
        fetch: Callable[[], Token],
        *,
        on_refresh: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        refresh_early_s: float = REFRESH_EARLY_S,
    ) -> None:
        self._fetch = fetch
        self._on_refresh = on_refresh
        self._clock = clock
        self._refresh_early_s = refresh_early_s
        self._lock = threading.Lock()
        self._value: str | None = None
        self._refresh_at = 0.0
        self._fetched_before = False
        self._failed_fetches = 0
        self._last_failure: Exception | None = None

    def get(self) -> str:
        """A token that stays valid for a while, fetching one if needed (one thread at a time).

        A thread that waited while another thread's fetch failed gets that failure instead of
        trying again itself: otherwise 32 workers facing a dead token endpoint would each
        spend a full retry budget, one after the other.
        """
        failures_seen = self._failed_fetches
        with self._lock:
            if self._failed_fetches != failures_seen and self._last_failure is not None:
                raise self._last_failure
            if self._value is None or self._clock() >= self._refresh_at:
                self._renew()
            assert self._value is not None
            return self._value

    def invalidate(self, stale: str) -> None:
        """Forget ``stale`` after the server refused it, unless another thread already did."""
        with self._lock:
            if self._value == stale:
                self._value = None

    def _renew(self) -> None:
        if self._fetched_before:
            self._on_refresh()
        self._fetched_before = True
        started = self._clock()
        try:
            token = self._fetch()
        except Exception as exc:
            self._last_failure = exc
            self._failed_fetches += 1
            raise
        early = min(self._refresh_early_s, token.expires_in_s / 2)
        self._value = token.value
        self._refresh_at = started + token.expires_in_s - early
