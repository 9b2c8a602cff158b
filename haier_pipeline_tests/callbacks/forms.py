"""Builders for callback tests: signed forms as Haier sends them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haier_pipeline.callbacks.model import format_timestamp
from haier_pipeline.callbacks.signing import sign

APP_KEY = "HaierApp01"
SECRET = "cb-secret-9f2"
CONFIRM = "hmm.scm_heorder.confirm"


def callback_form(
    order_no: str = "P-1001",
    *,
    method: str = CONFIRM,
    state: Any = 1,
    fail_msg: str = "",
    app_key: str = APP_KEY,
    secret: str = SECRET,
    data: str | None = None,
    timestamp: str | None = None,
) -> dict[str, str]:
    """A form signed with ``secret``; ``data`` replaces the JSON built from the other args.

    TimeStamp is now in Beijing time unless given, as Haier sends it.
    """
    if data is None:
        data = json.dumps(
            {
                "ExtOrderNo": "SO.20250430.000001",
                "PlatformOrderNo": order_no,
                "State": state,
                "FailMsg": fail_msg,
            },
            ensure_ascii=False,
        )
    stamp = timestamp or format_timestamp(datetime.now(UTC))
    fields = {"AppKey": app_key, "TimeStamp": stamp, "Method": method, "Data": data}
    return {**fields, "Sign": sign(fields, secret)}


def spool_files(spool_dir: Path) -> list[Path]:
    """Every file anywhere in the spool, to prove that a refusal wrote nothing."""
    return sorted(p for p in spool_dir.rglob("*") if p.is_file())
