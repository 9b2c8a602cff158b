"""Items in batches of at most ``size``, in order: codes per call, rows per flush, files per run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Like Python 3.12's ``itertools.batched`` (lists, not tuples); lazy, so a streamed
    catalog is never held whole."""
    if size < 1:
        raise ValueError(f"batch size is {size}; use 1 or more")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
