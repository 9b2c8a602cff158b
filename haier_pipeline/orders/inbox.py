"""The order inbox: JSON files that shops drop, read safely and moved out once handled.

Layout (HAIER_ORDER_INBOX is the inbox)::

    <inbox>/SO123.json                  pending
    <inbox>/../processed/<outcome>/...  handled, one folder per outcome (pushed, rejected, ...)

Only ``*.json`` names that are not dotfiles count as pending, so a shop can write under a
temporary or hidden name and rename the file into place. Whatever else sits under such a
name (a symbolic link, a fifo, a device, a folder, a file with a second hard link) is never
read: ``read_order_bytes`` opens with ``O_NOFOLLOW | O_NONBLOCK`` and checks the opened
descriptor, so a swap between the listing and the open cannot slip a link or a fifo through.
A file larger than ``MAX_FILE_BYTES`` is refused after reading only that many bytes.

Moving a handled file is one ``os.replace`` on the same filesystem: a file is either pending
or archived, never half of each. Archiving is not safe against two processes archiving files
of the same name at the same moment; the push_orders job is the only archiver and runs once at
a time.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from haier_pipeline.environment import HAIER_ORDER_SET_ASIDE_MIN, HAIER_ORDER_SETTLE_S
from haier_pipeline.jsondepth import deeper_than
from haier_pipeline.orders.fields import MAX_FILE_BYTES, MAX_NESTING
from haier_pipeline.orders.validation import InvalidOrder

_OUTCOME = re.compile(r"[A-Za-z0-9_-]+")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class RefusedEntry(Exception):
    """An inbox entry that is not a plain file of its own; it was not read."""


class ChangedWhileRead(Exception):
    """The file changed between the listing and the end of reading: judge it next time."""


def settle_window_s() -> float:
    """HAIER_ORDER_SETTLE_S in seconds (see its declaration); a bad value names it."""
    return HAIER_ORDER_SETTLE_S.value(HAIER_ORDER_SETTLE_S.text())


def set_aside_after_s() -> float:
    """HAIER_ORDER_SET_ASIDE_MIN in seconds (see its declaration); a bad value names it."""
    return HAIER_ORDER_SET_ASIDE_MIN.value(HAIER_ORDER_SET_ASIDE_MIN.text()) * 60


def entry_problem(info: os.stat_result) -> str | None:
    """Why an inbox entry (as lstat or fstat sees it) is not read, or None for a plain file."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link; links are never followed. Drop the order file itself"
    if stat.S_ISDIR(mode):
        return "is a folder, not an order file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a fifo, socket or device); drop a plain JSON file"
    if info.st_nlink > 1:
        return (
            f"has {info.st_nlink} hard links, so its content may belong to another file; "
            "drop a file of its own (write it, or copy it, under a new name)"
        )
    return None


def identity(info: os.stat_result) -> tuple[int, ...]:
    """What must not change between the listing and the read: which file, its size and mtime."""
    return (info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns)


def read_order_bytes(path: Path, expected: os.stat_result | None = None) -> bytes:
    """The file's bytes, or its first ``MAX_FILE_BYTES + 1`` when it is larger.

    Raises RefusedEntry for anything but a plain file of its own (without reading it), and
    ChangedWhileRead when the file is not the one ``expected`` describes or changed while it
    was read.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedEntry(entry_problem(os.lstat(path)) or "is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        before = os.fstat(fd)
        problem = entry_problem(before)
        if problem is not None:
            raise RefusedEntry(problem)
        if expected is not None and identity(before) != identity(expected):
            raise ChangedWhileRead("it changed after it was listed")
        data = handle.read(MAX_FILE_BYTES + 1)
        if identity(os.fstat(fd)) != identity(before):
            raise ChangedWhileRead("it changed while it was read")
    return data


def parse_order_bytes(data: bytes, source: str) -> dict[str, Any]:
    """The file's JSON object with every number that has a fraction or exponent as a Decimal.

    parse_float=Decimal keeps 0.1 as 0.1 rather than the nearest binary float; NaN and Infinity
    become Decimals too, so that validation can refuse them by name. A byte-order mark, which
    Windows editors add, is tolerated. Anything that is not one UTF-8 JSON object of at most
    MAX_FILE_BYTES, nested at most MAX_NESTING deep, raises InvalidOrder naming the file.
    """
    if len(data) > MAX_FILE_BYTES:
        raise InvalidOrder(
            None,
            source,
            [
                f"the file has more than {MAX_FILE_BYTES:,} bytes; an order file is a few "
                "kilobytes, so write one order per file"
            ],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidOrder(
            None,
            source,
            [f"the file is not UTF-8 text (byte {error.start}); save it as UTF-8"],
        ) from error
    if deeper_than(text, MAX_NESTING):
        raise InvalidOrder(
            None,
            source,
            [
                f"the file nests objects or lists more than {MAX_NESTING} levels deep; an "
                "order nests three (order, itemList, item)"
            ],
        )
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
        kind = "a list" if isinstance(raw, list) else f"the single value {_clip(repr(raw))}"
        raise InvalidOrder(
            None,
            source,
            [f"the file holds {kind}, not an object; write one order as a JSON object"],
        )
    return raw


def read_order_file(path: Path) -> dict[str, Any]:
    """read_order_bytes, then parse_order_bytes: the file's order as a JSON object."""
    return parse_order_bytes(read_order_bytes(path), path.name)


def pending_files(inbox: Path) -> list[Path]:
    """Order files waiting in the inbox, sorted by name so every run takes them in one order.

    Every entry under an order file name is listed, whatever it is, so that push_orders can
    record and set aside what it refuses to read (see ``entry_problem``).
    """
    if not inbox.is_dir():
        raise FileNotFoundError(
            f"order inbox {inbox} does not exist; create it or point HAIER_ORDER_INBOX at it"
        )
    return sorted(
        (
            path
            for path in inbox.iterdir()
            if path.suffix == ".json" and not path.name.startswith(".")
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
    if not os.path.lexists(path):
        return _latest_archive(path, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    free = next(candidate for candidate in _numbered(target) if not os.path.lexists(candidate))
    os.replace(path, free)
    return free


def file_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes: a file rewritten under the same name is a new order event.

    An entry that is not read (a link, a fifo...) or a file too large to read is fingerprinted
    by what lstat says of it, so that it still counts as new once and push_orders sets it aside.
    """
    try:
        data = read_order_bytes(path)
    except (RefusedEntry, ChangedWhileRead):
        data = None
    if data is None or len(data) > MAX_FILE_BYTES:
        info = os.lstat(path)
        return "entry:" + ":".join(str(part) for part in identity(info))
    return hashlib.sha256(data).hexdigest()


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json keeps the last of two equal keys; for an order that silently drops a value."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {_clip(repr(key))} appears twice in one object")
        result[key] = value
    return result


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


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
        if not os.path.lexists(candidate):
            break
        latest = candidate
    if latest is None:
        raise FileNotFoundError(
            f"order file {path} is neither in the inbox nor archived under {target.parent}"
        )
    return latest
