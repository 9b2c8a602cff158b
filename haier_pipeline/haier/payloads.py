"""Shapes of ``data`` payloads shared by both clients, and reporting of rejected records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from haier_pipeline.haier.errors import HaierProtocolError
from haier_pipeline.haier.masking import get_logger
from haier_pipeline.haier.records import ParseResult

T = TypeVar("T")

log = get_logger(__name__)


def as_list(endpoint: str, payload: Any) -> list[Any]:
    """The payload as a list of records: ``null`` is none, a single object is one.

    Haier documents lists for these endpoints but older gateways answer with one object;
    anything else (text, a number) is a contract breach, not a record to skip.
    """
    if payload is None:
        return []
    if isinstance(payload, Mapping):
        return [payload]
    if isinstance(payload, list):
        return payload
    raise HaierProtocolError(endpoint, f"data is {type(payload).__name__}, expected a list")


def reported(endpoint: str, result: ParseResult[T]) -> ParseResult[T]:
    """``result``, after logging each rejected record so no rejection goes unseen."""
    for rejected in result.rejected:
        log.warning("%s: %s", endpoint, rejected.reason)
    return result
