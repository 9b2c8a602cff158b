"""The launch-form rules for reschedule dates: YLH takes 23:59:59 Beijing time, nothing else."""

from __future__ import annotations

from datetime import datetime

import pytest

from haier_pipeline.haier.ylh import SHANGHAI
from haier_pipeline.orders.changes import OrderChangeError, parse_reschedule_time

END_OF_DAY = datetime(2026, 12, 3, 23, 59, 59, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "text", ["2026-12-03", " 2026-12-03T23:59:59+08:00 ", "2026-12-03T15:59:59+00:00"]
)
def test_a_day_or_its_exact_end_is_accepted(text: str) -> None:
    assert parse_reschedule_time("distribution_date", text) == END_OF_DAY


def test_empty_means_unchanged() -> None:
    assert parse_reschedule_time("install_date", "  ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-03T09:00:00+08:00", "is 2026-12-03 09:00:00 in Asia/Shanghai"),
        ("2026-12-03T23:59:59+00:00", "is 2026-12-04 07:59:59 in Asia/Shanghai"),
        ("2026-12-03T23:59:59", "has no UTC offset"),
        ("2026-02-30", "is not a calendar date"),
        ("next tuesday", "is not a date or a timestamp"),
    ],
)
def test_anything_else_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(OrderChangeError, match=message) as caught:
        parse_reschedule_time("install_date", text)
    assert str(caught.value).startswith(f"install_date {text!r}")
