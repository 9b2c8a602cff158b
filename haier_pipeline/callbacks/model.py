"""What one Haier callback says (haier-api.md section 4), checked field by field.

Parsing lives apart from the HTTP receiver so that the receiver, the spool and the pipeline
that applies callbacks all agree on one definition of a valid callback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Haier's TimeStamp fields carry no offset; they are Beijing time."""

TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
METHODS = frozenset(
    {"hmm.scm_heorder.confirm", "hmm.scm_heorder.cancel", "hmm.scm_heorder.oostock"}
)
FAIL_MSG_MAX_CHARS = 100


class InvalidCallback(ValueError):
    """A signed callback whose content breaks the contract; Haier should fix and resend it."""


@dataclass(frozen=True)
class Callback:
    """One verified callback. ``state`` is 1 for done/accepted, 0 for failed/refused."""

    method: str
    app_key: str
    timestamp: datetime
    platform_order_no: str
    ext_order_no: str | None
    state: int
    fail_msg: str
    received_at: datetime
    raw_data: str
    """The Data field exactly as Haier sent it, kept so that no detail is lost for audits."""

    @classmethod
    def from_form(cls, fields: Mapping[str, str], received_at: datetime) -> Callback:
        """Build from the (already signature-checked) form fields, or raise InvalidCallback."""
        method = _required(fields, "Method")
        if method not in METHODS:
            known = ", ".join(sorted(METHODS))
            raise InvalidCallback(f"Method {method!r} is unknown; expected one of {known}")
        raw_data = _required(fields, "Data")
        data = _data_object(raw_data)
        order_no = data.get("PlatformOrderNo")
        if not isinstance(order_no, str) or not order_no.strip():
            raise InvalidCallback(
                "Data.PlatformOrderNo is missing or blank; it must be our order number"
            )
        return cls(
            method=method,
            app_key=_required(fields, "AppKey"),
            timestamp=parse_timestamp(_required(fields, "TimeStamp")),
            platform_order_no=order_no,
            ext_order_no=_ext_order_no(data, order_no),
            state=_state(data, order_no),
            fail_msg=_fail_msg(data, order_no),
            received_at=received_at,
            raw_data=raw_data,
        )


def parse_timestamp(text: str) -> datetime:
    """Read a Haier ``yyyyMMddHHmmss`` Beijing-time stamp as an aware datetime."""
    try:
        naive = datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        raise InvalidCallback(
            f"TimeStamp {text!r} is not yyyyMMddHHmmss (Beijing time), e.g. 20250430120000"
        ) from None
    return naive.replace(tzinfo=SHANGHAI)


def format_timestamp(moment: datetime) -> str:
    """Write an aware datetime the way Haier expects timestamps: Beijing time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(TIMESTAMP_FORMAT)


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value.strip():
        raise InvalidCallback(f"form field {name} is missing or blank")
    return value


def _data_object(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidCallback(f"form field Data is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise InvalidCallback("form field Data must be a JSON object with PlatformOrderNo, State")
    return data


def _ext_order_no(data: Mapping[str, Any], order_no: str) -> str | None:
    value = data.get("ExtOrderNo")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidCallback(f"Data.ExtOrderNo of order {order_no} must be a string")
    return value


def _state(data: Mapping[str, Any], order_no: str) -> int:
    """Accept 0/1 as number or string: the spec shows numbers, Java senders often quote them."""
    value = data.get("State")
    if isinstance(value, bool) or value not in (0, 1, "0", "1"):
        raise InvalidCallback(f"Data.State of order {order_no} is {value!r}; it must be 0 or 1")
    return int(value)


def _fail_msg(data: Mapping[str, Any], order_no: str) -> str:
    value = data.get("FailMsg")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidCallback(f"Data.FailMsg of order {order_no} must be a string")
    if len(value) > FAIL_MSG_MAX_CHARS:
        raise InvalidCallback(
            f"Data.FailMsg of order {order_no} has {len(value)} characters; "
            f"at most {FAIL_MSG_MAX_CHARS} are allowed"
        )
    return value
