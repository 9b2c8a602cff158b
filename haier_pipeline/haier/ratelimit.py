"""Client-side pacing, so Haier's limit of N calls per second per client_id never answers 429.

pyrate-limiter's GCRA with a burst of 1 spaces calls exactly ``1/N`` seconds apart. A server
whose token bucket holds N tokens and refills N per second therefore never runs dry, even
when our calls reach it bunched by network jitter: the bucket absorbs the bunching. Two
settings matter and are not the library's defaults: ``buffer_ms=0`` (the default adds 50 ms
to every wait, which cut 100/s to 17/s when measured with 32 threads) and no leak thread
(a GCRA bucket keeps one number, so there is nothing to leak).

Haier counts per client_id across all endpoints, so every client object in this process that
uses the same client_id and rate shares one pacer (:func:`shared_pacer`).
"""

from __future__ import annotations

import math
import threading

from pyrate_limiter import GCRA, Duration, Limiter, Rate, SingleBucketFactory, StateBucket

# A rate is expressed per 1000 s so fractional limits (0.5 calls/s) stay exact in whole units.
_PER = 1000


class CallPacer:
    """Blocks each caller until its call may go out; thread-safe."""

    def __init__(self, calls_per_second: float) -> None:
        if not calls_per_second > 0 or math.isinf(calls_per_second):
            raise ValueError(
                f"rate limit is {calls_per_second!r} calls per second; set HAIER_RATE_LIMIT "
                "to a positive number (Haier allows 100)"
            )
        # The limiter's clock ticks in milliseconds; above 1000/s allow one tick's worth at once.
        burst = max(1, math.ceil(calls_per_second / 1000))
        rate = Rate(max(1, round(calls_per_second * _PER)), _PER * Duration.SECOND, burst=burst)
        bucket = StateBucket([rate], GCRA())
        self._limiter = Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=0)

    def acquire(self) -> None:
        if not self._limiter.try_acquire("haier", blocking=True):
            raise RuntimeError("the rate limiter refused a single call; this is a bug")


_REGISTRY: dict[tuple[str, float], CallPacer] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_pacer(client_id: str, calls_per_second: float) -> CallPacer:
    """The process-wide pacer for this client_id and rate (created on first use)."""
    key = (client_id, calls_per_second)
    with _REGISTRY_LOCK:
        pacer = _REGISTRY.get(key)
        if pacer is None:
            pacer = _REGISTRY[key] = CallPacer(calls_per_second)
        return pacer
