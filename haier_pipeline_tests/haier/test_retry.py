"""RetryPolicy arithmetic and Retry-After parsing, without a server or a clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from haier_pipeline.haier.retry import RetryPolicy, parse_retry_after


def test_backoff_cap_doubles_up_to_the_maximum() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_scales_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, jitter=lambda: 0.25)
    assert policy.delay(3) == 1.0  # 0.25 * 4


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_delay_s=0.5, jitter=lambda: 0.0)
    assert policy.delay(1, retry_after=2.0) == 2.0
    loud = RetryPolicy(base_delay_s=10.0, max_delay_s=10.0, jitter=lambda: 1.0)
    assert loud.delay(1, retry_after=2.0) == 10.0


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(max_retry_after_s=5.0, jitter=lambda: 0.0)
    assert policy.delay(1, retry_after=3600.0) == 5.0


def test_default_jitter_stays_within_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5)
    delays = [policy.delay(2) for _ in range(200)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100  # really random


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        RetryPolicy().delay(0)


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("Wed, 30 Apr 2025 08:00:30 GMT", 30.0),
        ("Wed, 30 Apr 2025 07:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2025, 4, 30, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == seconds
