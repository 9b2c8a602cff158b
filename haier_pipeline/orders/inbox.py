"""The order inbox: JSON files that shops drop, read exactly and moved out once handled.

Layout (HAIER_ORDER_INBOX is the inbox)::

    <inbox>/SO123.json                  pending
    <inbox>/../processed/<outcome>/...  handled, one folder per outcome (pushed, rejected, ...)

Shops write a file under a temporary or hidden name and rename it into place, so only
``*.json`` names that are not dotfiles count as pending. Moving a handled file is one
``os.replace`` on the same filesystem: a file is either pending or archived, never half of each.
Archiving is not safe against two processes archiving files of the same name at the same
moment; the push_orders job is the only archiver and runs once at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from haier_pipeline.orders.validation import InvalidOrder

_OUTCOME = re.compile(r"[A-Za-z0-9_-]+")


def read_order_file(path: Path) -> dict[str, Any]:
    """The file's JSON object with every number that has a fraction or exponent as a Decimal.

    parse_float=Decimal keeps 0.1 as 0.1 rather than the nearest binary float; NaN and Infinity
    become Decimals too, so that validation can refuse them by name. A byte-order mark, which
    Windows editors add, is tolerated. Anything that is not one UTF-8 JSON object raises
    InvalidOrder naming the file.
    """
    source = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidOrder(
            None,
            source,
            [f"the file is not UTF-8 text (byte {error.start}); save it as UTF-8"],
        ) from error
    try:
        raw = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=Decimal,
            object_pairs_hook=_refuse_duplicate_keys,
        )
    except ValueError as error:
        raise InvalidOrder(
            None, source, [f"the file is not valid JSON ({error}); fix the syntax"]
        ) from error
    if not isinstance(raw, dict):
        kind = "a list" if isinstance(raw, list) else f"the single value {raw!r}"
        raise InvalidOrder(
            None,
            source,
            [f"the file holds {kind}, not an object; write one order as a JSON object"],
        )
    return raw


def pending_files(inbox: Path) -> list[Path]:
    """Order files waiting in the inbox, sorted by name so every run takes them in one order."""
    if not inbox.is_dir():
        raise FileNotFoundError(
            f"order inbox {inbox} does not exist; create it or point HAIER_ORDER_INBOX at it"
        )
    return sorted(
        (
            path
            for path in inbox.iterdir()
            if path.suffix == ".json" and not path.name.startswith(".") and path.is_file()
        ),
        key=lambda path: path.name,
    )


def archive(path: Path, outcome: str) -> Path:
    """Move a handled file to ``<inbox>/../processed/<outcome>/`` and return where it went.

    A name already taken there gets a numbered suffix (``SO1.1.json``, ``SO1.2.json``...) so an
    earlier file is never overwritten. Calling it again after the move (a retried step) returns
    the most recent archive of that name instead of failing.
    """
    if not _OUTCOME.fullmatch(outcome):
        raise ValueError(
            f"archive outcome {outcome!r} is not a folder name; use letters, digits, _ or -"
        )
    target = path.absolute().parent.parent / "processed" / outcome / path.name
    if not path.exists():
        return _latest_archive(path, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    free = next(candidate for candidate in _numbered(target) if not candidate.exists())
    os.replace(path, free)
    return free


def file_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes: a file rewritten under the same name is a new order event."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json keeps the last of two equal keys; for an order that silently drops a value."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _numbered(target: Path) -> Iterator[Path]:
    """target, then stem.1.json, stem.2.json... in the order archive takes them."""
    yield target
    number = 1
    while True:
        yield target.with_name(f"{target.stem}.{number}{target.suffix}")
        number += 1


def _latest_archive(path: Path, target: Path) -> Path:
    latest = None
    for candidate in _numbered(target):
        if not candidate.exists():
            break
        latest = candidate
    if latest is None:
        raise FileNotFoundError(
            f"order file {path} is neither in the inbox nor archived under {target.parent}"
        )
    return latest
