"""Retry arithmetic, kept pure so it can be tested without a server or a clock.

Haier advises at most 3 retries for transient failures. Full jitter (a random wait between 0
and the exponential cap) spreads the retries of many worker threads apart, so a hiccup does
not come back as a synchronised burst; a ``Retry-After`` from the server is a floor, because
coming back sooner only earns another 429.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry a transient failure and how long to wait before each retry.

    ``max_retry_after_s`` bounds a server's ``Retry-After`` so a misbehaving gateway asking
    for an hour cannot stall a run; the call then fails with the usual transient error.
    """

    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries is {self.max_retries}; use 0 or more")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("RetryPolicy delays must be zero or more seconds")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        if attempt < 1:
            raise ValueError(f"retry attempt numbers start at 1, got {attempt}")
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        backoff = self.jitter() * cap
        if retry_after is None:
            return backoff
        return max(min(max(retry_after, 0.0), self.max_retry_after_s), backoff)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
