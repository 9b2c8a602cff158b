"""Argument checks made before a request leaves, so a bad argument costs no Haier call.

A malformed county code or a 21st product code would earn a 400 that fails a whole batch;
a timestamp without a time zone would be sent as the wrong instant. Each check raises
``ValueError`` naming the argument, its value and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

MAX_CODES_PER_CALL = 20
# haier-api.md section 1: Haier product codes and GB/T 2260 county codes.
PRODUCT_CODE = re.compile(r"[0-9A-Z]{9}")
COUNTY_CODE = re.compile(r"[0-9]{6}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text(name: str, value: object) -> str:
    """Non-blank text without surrounding spaces (codes and order numbers)."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{name} {value!r} must be non-blank text without surrounding spaces")
    return value


def product_codes(codes: Sequence[str]) -> list[str]:
    """1 to 20 product codes, as Haier accepts per call."""
    if isinstance(codes, str):
        raise ValueError(f"product codes must be a list of codes, not the text {codes!r}")
    checked = [text("product code", code) for code in codes]
    if not checked:
        raise ValueError("no product codes given; pass 1 to 20 codes")
    if len(checked) > MAX_CODES_PER_CALL:
        raise ValueError(
            f"{len(checked)} product codes given; Haier accepts at most {MAX_CODES_PER_CALL} "
            "per call, so split them into batches"
        )
    return checked


def county_code(value: object) -> str:
    if not isinstance(value, str) or not COUNTY_CODE.fullmatch(value):
        raise ValueError(
            f"county code {value!r} is not a 6-digit county code (GB/T 2260, e.g. 110101); "
            "fix HAIER_COUNTY_CODES or the order's countyCode"
        )
    return value


def aware(name: str, value: object) -> datetime:
    """A timezone-aware datetime: a naive one could mean any of 24 instants."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone; pass an aware datetime")
    return value


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, as Haier's time fields expect."""
    return (aware("time", value) - _EPOCH) // timedelta(milliseconds=1)
