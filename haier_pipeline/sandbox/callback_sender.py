"""Haier's side of a callback (haier-api.md section 4): build, sign and POST one.

The sandbox signs with the pipeline's own ``haier_pipeline.callbacks.signing.sign`` because the
point is to exercise the receiver; whether that signer matches the spec is tested separately
against an independent MD5 computation.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

import requests

from haier_pipeline.sandbox.protocol import SHANGHAI

SignMode = Literal["good", "bad", "missing"]
MAX_FAIL_MSG = 100


def callback_fields(
    method: str,
    platform_order_no: str,
    state: int,
    *,
    app_key: str,
    ext_order_no: str | None = None,
    fail_msg: str | None = None,
    timestamp: str | None = None,
) -> dict[str, str]:
    """The unsigned form fields, in the order Haier sends them."""
    if state not in (0, 1):
        raise ValueError(f"callback State must be 1 (done) or 0 (refused/failed), got {state!r}")
    if fail_msg is not None and len(fail_msg) > MAX_FAIL_MSG:
        raise ValueError(f"callback FailMsg has {len(fail_msg)} characters, at most 100 allowed")
    data: dict[str, object] = {"PlatformOrderNo": platform_order_no, "State": state}
    if ext_order_no is not None:
        data["ExtOrderNo"] = ext_order_no
    if fail_msg is not None:
        data["FailMsg"] = fail_msg
    return {
        "AppKey": app_key,
        "TimeStamp": timestamp or f"{datetime.now(SHANGHAI):%Y%m%d%H%M%S}",
        "Method": method,
        "Data": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
    }


def send_callback(
    url: str,
    method: str,
    platform_order_no: str,
    state: int,
    ext_order_no: str | None = None,
    fail_msg: str | None = None,
    sign: SignMode = "good",
    *,
    app_key: str,
    secret: str,
    timestamp: str | None = None,
    timeout_s: float = 10.0,
) -> requests.Response:
    """POST one form-encoded callback; ``sign`` chooses a valid, a wrong or no signature."""
    if sign not in ("good", "bad", "missing"):
        raise ValueError(f"sign must be 'good', 'bad' or 'missing', got {sign!r}")
    fields = callback_fields(
        method,
        platform_order_no,
        state,
        app_key=app_key,
        ext_order_no=ext_order_no,
        fail_msg=fail_msg,
        timestamp=timestamp,
    )
    if sign != "missing":
        # Imported here: the signing module belongs to the callbacks package and the sandbox
        # must stay importable (and usable without signatures) on its own.
        from haier_pipeline.callbacks.signing import sign as sign_fields

        key = secret if sign == "good" else secret + "-not-the-secret"
        fields["Sign"] = sign_fields(fields, key)
    return requests.post(url, data=fields, timeout=timeout_s)
