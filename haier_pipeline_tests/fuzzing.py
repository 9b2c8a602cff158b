"""Property tests in two sizes: a quick, derandomized run in the default suite (the same
examples every time, so CI is stable) and a long, random one marked ``slow``.

``quick, slow = fuzz(strategy, ...)(check)`` gives both tests for one property.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

QUICK_EXAMPLES = 150
SLOW_EXAMPLES = 5_000

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # nothing written into the working tree
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def fuzz(
    *strategies: st.SearchStrategy[Any], quick: int = QUICK_EXAMPLES, slow: int = SLOW_EXAMPLES
) -> Callable[[Callable[..., None]], tuple[Callable[..., None], Callable[..., None]]]:
    def both(check: Callable[..., None]) -> tuple[Callable[..., None], Callable[..., None]]:
        fast = settings(max_examples=quick, derandomize=True, **_COMMON)(given(*strategies)(check))
        long = settings(max_examples=slow, **_COMMON)(given(*strategies)(check))
        return fast, pytest.mark.slow(long)

    return both
