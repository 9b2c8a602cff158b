"""An append-only folder of verified callbacks between the receiver and the pipeline.

The receiver answers Haier only after a callback is durably in ``pending/``, so a callback that
Haier saw acknowledged is never lost, even if the pipeline is down for days. The pipeline reads
``pending(spool_dir)``, applies each callback and then calls ``mark_done``. A consumer that
crashes between applying and ``mark_done`` sees the same callback again on its next run, and
Haier itself may send a callback twice: consumers must apply updates idempotently (e.g. set the
order status from the callback, never toggle or count).

Layout: ``tmp/`` (files being written), ``pending/`` (complete, not yet applied), ``done/``
(applied, kept for audits), ``seen/`` (one empty marker per distinct callback spooled, see
``write_once``). File names are ``<UTC arrival time to the ns>-<uuid>.json`` so that sorting
names gives arrival order.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from haier_pipeline.callbacks.model import Callback, parse_timestamp
from haier_pipeline.durable import write_atomically

PENDING = "pending"
DONE = "done"
TMP = "tmp"
SEEN = "seen"
_KEY_LOCKS = tuple(threading.Lock() for _ in range(64))
FORMAT_VERSION = 1
_DATETIME_FIELDS = ("timestamp", "received_at")


class SpoolError(RuntimeError):
    """A file in the spool cannot be read back; someone must look at it by hand."""


@dataclass(frozen=True, kw_only=True)
class SpooledCallback(Callback):
    """A callback as read back from ``pending/``; ``path`` is the file that holds it. A file
    spooled before accounts existed has no ``account``: it is the ``default`` account's."""

    path: Path


_clock_lock = threading.Lock()
_last_ns = 0


def write(spool_dir: Path, callback: Callback) -> Path:
    """Durably add ``callback`` to ``pending/`` and return its file.

    The file appears in ``pending/`` complete or not at all (written in ``tmp/``, fsynced,
    renamed, directory fsynced), so a reader never sees half a callback and a crash never
    leaves one that the receiver has acknowledged missing.
    """
    pending_dir, tmp_dir, _ = ensure_layout(Path(spool_dir))
    name = f"{_arrival_stamp()}-{uuid.uuid4().hex}.json"
    payload = json.dumps(_to_record(callback), ensure_ascii=False, indent=1).encode("utf-8")
    final_path = pending_dir / name
    write_atomically(final_path, payload, temporary=tmp_dir / name)
    return final_path


def replay_key(fields: Mapping[str, str]) -> str:
    """What makes a callback distinct: Method, Data (the order), TimeStamp and Sign.

    The order is read from Data as sent; the key is a digest so that it can name a file.
    """
    parts = [fields.get(name, "") for name in ("Method", "Data", "TimeStamp")]
    parts.append(fields.get("Sign", "").strip().upper())
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]
    return f"{fields.get('TimeStamp', '')}-{digest}"


def write_once(spool_dir: Path, callback: Callback, key: str) -> Path | None:
    """``write`` unless a callback with ``key`` was spooled before; None for such a duplicate.

    The marker in ``seen/`` is created only after the callback is durably in ``pending/``:
    a crash in between can spool a resent callback twice (applying is idempotent), never lose
    one. Callbacks of one key wait for each other; different keys are spooled in parallel.
    A spool is meant for one receiver process; a second one could spool a duplicate, no more.
    """
    marker = Path(spool_dir) / SEEN / key
    with _KEY_LOCKS[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(_KEY_LOCKS)]:
        if marker.exists():
            return None
        path = write(spool_dir, callback)
        marker.touch()
    return path


def forget_seen_before(spool_dir: Path, cutoff: datetime) -> int:
    """Remove markers of callbacks whose TimeStamp is before ``cutoff``; returns how many.

    A callback that old is refused by the replay window before the markers are consulted, so
    its marker can go: the window bounds how many markers the spool keeps.
    """
    removed = 0
    seen_dir = Path(spool_dir) / SEEN
    for marker in seen_dir.glob("*-*"):
        stamp = marker.name.split("-", 1)[0]
        try:
            too_old = parse_timestamp(stamp) < cutoff
        except ValueError:
            too_old = True  # not a marker we wrote
        if too_old:
            marker.unlink(missing_ok=True)
            removed += 1
    return removed


def pending(spool_dir: Path) -> list[SpooledCallback]:
    """Every callback not yet marked done, oldest arrival first."""
    pending_dir = Path(spool_dir) / PENDING
    if not pending_dir.is_dir():
        return []
    return [_read(path) for path in sorted(pending_dir.glob("*.json"))]


def mark_done(callback: SpooledCallback) -> None:
    """Move the callback's file to ``done/``; a file already moved there is fine."""
    source = callback.path
    target = source.parent.parent / DONE / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        if not target.exists():
            raise FileNotFoundError(
                f"spooled callback {source.name} (order {callback.platform_order_no}) is in "
                f"neither {source.parent} nor {target.parent}; was the spool edited by hand?"
            ) from None


def ensure_layout(spool_dir: Path) -> tuple[Path, Path, Path]:
    """Create ``pending/``, ``tmp/`` and ``done/`` so that permission errors show at start."""
    dirs = (spool_dir / PENDING, spool_dir / TMP, spool_dir / DONE)
    for directory in (*dirs, spool_dir / SEEN):
        directory.mkdir(parents=True, exist_ok=True)
    return dirs


def _arrival_stamp() -> str:
    """A UTC time to the ns, strictly increasing within this process.

    Strictly increasing so that two callbacks in the same clock tick, or across a backwards
    clock step, still sort in the order they were written.
    """
    global _last_ns
    with _clock_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        now_ns = _last_ns
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{nanos:09d}Z"


def _to_record(callback: Callback) -> dict[str, Any]:
    record = {"format_version": FORMAT_VERSION, **asdict(callback)}
    record.pop("path", None)
    for key in _DATETIME_FIELDS:
        record[key] = record[key].isoformat()
    return record


def _read(path: Path) -> SpooledCallback:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.pop("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version is not {FORMAT_VERSION}")
        for key in _DATETIME_FIELDS:
            record[key] = datetime.fromisoformat(record[key])
        return SpooledCallback(path=path, **record)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SpoolError(
            f"spooled callback {path} cannot be read ({error}); move it out of "
            f"{path.parent} after checking it by hand, then rerun"
        ) from error
