"""Lists in messages: a few items and a count, never the whole list.

A message is read by a person (the UI's one Failure line, a log line, sync_log.message); a
targeted refresh of 100,001 codes with one bad code must not print a megabyte with the bad
code at its end. Every list a message names goes through :func:`few`.
"""

from __future__ import annotations

from collections.abc import Iterable

SHOWN = 5
"""Items named in a message; the rest are counted."""
ITEM_CHARS = 40
"""An item longer than this is cut (a pasted paragraph where a code goes)."""


def few(items: Iterable[object], shown: int = SHOWN, *, quote: bool = False) -> str:
    """``a, b, c, d, e and 99,996 more``: the first ``shown`` items (each cut to
    ``ITEM_CHARS``, ``repr``-quoted with ``quote``), then how many are left out."""
    named: list[str] = []
    rest = 0
    for item in items:
        if len(named) < shown:
            named.append(clip(repr(item) if quote else str(item)))
        else:
            rest += 1
    text = ", ".join(named)
    return f"{text} and {rest:,} more" if rest else text


def clip(text: str, limit: int = ITEM_CHARS) -> str:
    """``text``, or its first ``limit`` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
