"""Keep many calls in flight so that the rate limit, not latency, bounds a sync.

At 150 ms per call, one call at a time is 6.7 calls/s; the limit is 100. Running up to
``max_workers`` calls at once on threads (the client is thread-safe and paces itself with
its shared limiter) closes that gap. Work is submitted through a bounded window rather than
all at once, so 300,000 stock calls never become 300,000 futures in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from haier_pipeline.haier.errors import HaierError

T = TypeVar("T")
R = TypeVar("R")


def call_all(
    fn: Callable[[T], R], items: Iterable[T], max_workers: int
) -> Iterator[tuple[T, R | None, HaierError | None]]:
    """Yield ``(item, result, error)`` as calls complete; a HaierError is returned, not raised.

    Any other exception is a bug, not a Haier answer, and propagates (cancelling the rest).
    """
    window = max(1, max_workers) * 2
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="haier") as pool:
        pending: dict[Future[R], T] = {}

        def refill() -> None:
            while len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    return
                pending[pool.submit(fn, item)] = item

        refill()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    error = future.exception()
                    if error is None:
                        yield item, future.result(), None
                    elif isinstance(error, HaierError):
                        yield item, None, error
                    else:
                        raise error
                refill()
        finally:
            for future in pending:
                future.cancel()
