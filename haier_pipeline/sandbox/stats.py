"""What the sandbox saw, so tests can assert on a client's behaviour from the server side.

Counting at the server is the only honest way to check claims like "no product fetched twice"
or "prices in ceil(N/20) calls": a client cannot be trusted to count its own calls.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter, defaultdict
from typing import Any


class SandboxStats:
    """Thread-safe counters; ``snapshot()`` returns plain JSON-ready data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._calls: Counter[str] = Counter()
            self._served: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._events: Counter[str] = Counter()
            self._codes: dict[str, list[str]] = {"products": [], "prices": [], "stock": []}
            self._stock_queries: list[tuple[str, str]] = []
            self._arrivals: defaultdict[str, list[float]] = defaultdict(list)

    def call(self, endpoint: str) -> None:
        """An API call arrived (before any fault, limit or auth check)."""
        with self._lock:
            self._total += 1
            self._calls[endpoint] += 1

    def arrival(self, client: str) -> None:
        """A call reached the rate limiter for this client_id (whether it then got a 429 or not)."""
        with self._lock:  # the time is taken under the lock, so the list stays sorted
            self._arrivals[client].append(time.monotonic())

    def served(self, endpoint: str, codes: list[str] | None = None) -> None:
        """The endpoint itself answered (success or business failure), with these codes."""
        with self._lock:
            self._served[endpoint] += 1
            if codes:
                self._codes[endpoint].extend(codes)

    def stock_query(self, code: str, county: str) -> None:
        with self._lock:
            self._stock_queries.append((code, county))

    def status(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def event(self, name: str) -> None:
        """Something other than a status: drops, slow answers, tokens issued, revocations."""
        with self._lock:
            self._events[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            statuses = {str(k): v for k, v in sorted(self._statuses.items())}
            return {
                "total_calls": self._total,
                "calls": dict(self._calls),
                "served": dict(self._served),
                "statuses": statuses,
                "sent_429": self._statuses[429],
                "sent_5xx": sum(v for k, v in self._statuses.items() if k >= 500),
                "sent_401": self._statuses[401],
                "drops": self._events["drop"],
                "html_sent": self._events["html"],
                "slow_answers": self._events["slow"],
                "tokens_issued": self._events["token"],
                "token_revocations": self._events["revoke"],
                "full_catalog_calls": self._events["full_catalog"],
                "internal_errors": self._events["internal_error"],  # sandbox bugs; always 0
                "product_codes": {k: list(v) for k, v in self._codes.items()},
                "stock_queries": [list(q) for q in self._stock_queries],
                "busiest_second": {c: _busiest_second(t) for c, t in self._arrivals.items()},
                "arrival_span_s": {c: t[-1] - t[0] for c, t in self._arrivals.items()},
            }


def _busiest_second(arrivals: list[float]) -> int:
    """The most calls that arrived within any one second, [t, t + 1), t any arrival time."""
    return max(
        (bisect.bisect_left(arrivals, start + 1.0, index) - index)
        for index, start in enumerate(arrivals)
    )
