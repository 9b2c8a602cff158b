"""What was pushed for each soId, so that a second file with that soId can be compared.

YLH answers a repeated soId with the first order's number whatever the second file says, so a
second file is only harmless when it says the same. Before a push is sent, the order's
canonical content is stored under ``<inbox>/../processed/.sent/`` (written to a temporary
name, fsynced, renamed), one file per soId named by its sha256 so that no soId ever becomes a
path and soIds differing only in case stay apart on any filesystem.

Canonical content is the create-order body plus countyCode, flattened to one text per field
(``itemList[0].actualPrice``) with amounts at two decimals: two files that differ only in
spacing, key order, ``1999.0`` against ``"1999.00"`` or a field left to its configured default
are the same order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from haier_pipeline.durable import write_atomically
from haier_pipeline.orders.model import Order

FOLDER = ".sent"


@dataclass(frozen=True)
class SentOrder:
    """The content pushed for ``so_id``, and the file it came from."""

    so_id: str
    source_file: str
    content: dict[str, str]


def canonical(order: Order) -> dict[str, str]:
    """Field path -> canonical text, for every field the push sends (and countyCode)."""
    payload = {**order.to_ylh_payload(), "countyCode": order.county_code}
    flat = {}
    for key, value in payload.items():
        if key == "itemList":
            for index, item in enumerate(value):
                for name, part in item.items():
                    flat[f"itemList[{index}].{name}"] = _text(part)
        else:
            flat[key] = _text(value)
    return dict(sorted(flat.items()))


def differing_fields(first: dict[str, str], second: dict[str, str]) -> list[str]:
    """Field paths whose values differ, including fields only one of the two has."""
    return sorted(key for key in first.keys() | second.keys() if first.get(key) != second.get(key))


def folder_for(inbox: Path) -> Path:
    return inbox.absolute().parent / "processed" / FOLDER


def record(folder: Path, sent: SentOrder) -> None:
    """Store ``sent`` durably, replacing what an earlier push of the soId stored."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"soId": sent.so_id, "sourceFile": sent.source_file, "content": sent.content}
    data = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
    write_atomically(_path(folder, sent.so_id), data)


def recall(folder: Path, so_id: str) -> SentOrder | None:
    """What was stored for ``so_id``; None when nothing was (a push made before this record
    existed) or the record was damaged, which callers treat as "cannot compare"."""
    try:
        payload = json.loads(_path(folder, so_id).read_text(encoding="utf-8"))
        return SentOrder(payload["soId"], payload["sourceFile"], dict(payload["content"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _path(folder: Path, so_id: str) -> Path:
    return folder / f"{hashlib.sha256(so_id.encode('utf-8')).hexdigest()}.json"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)
