"""Call statistics, counted by many threads and read as an immutable snapshot.

The counts are what an operator needs to tell "Haier is slow" from "we are too fast" from
"our token keeps dying": they go into run metadata and benchmark reports.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class CallStats:
    """Counts since the client was built.

    calls: every HTTP attempt, including retries and token calls.
    retries: attempts that repeated an earlier failed attempt.
    http_429 / http_5xx: rate-limited and server-error answers (500, 502, 503, 504).
    timeouts / dropped: attempts that timed out or lost their connection.
    non_json: answers that were not JSON (an HTML error page, an empty body).
    token_refreshes: token calls after the first (expiry or a refused token).
    business_failures: ``success: false`` answers.
    """

    calls: int = 0
    retries: int = 0
    http_429: int = 0
    http_5xx: int = 0
    timeouts: int = 0
    dropped: int = 0
    non_json: int = 0
    token_refreshes: int = 0
    business_failures: int = 0


_NAMES = frozenset(f.name for f in fields(CallStats))


class StatsCounter:
    """Thread-safe accumulator behind ``client.stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = CallStats()

    def add(self, name: str) -> None:
        """Count one more ``name``; a misspelt name fails loudly instead of counting nowhere."""
        if name not in _NAMES:
            raise KeyError(f"CallStats has no counter {name!r}")
        with self._lock:
            current = getattr(self._snapshot, name)
            self._snapshot = replace(self._snapshot, **{name: current + 1})

    def snapshot(self) -> CallStats:
        with self._lock:
            return self._snapshot
