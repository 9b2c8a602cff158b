"""What one Haier callback says (haier-api.md section 4), checked field by field.

Parsing lives apart from the HTTP receiver so that the receiver, the spool and the pipeline
that applies callbacks all agree on one definition of a valid callback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.jsondepth import deeper_than

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Haier's TimeStamp fields carry no offset; they are Beijing time."""

TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
_TIMESTAMP_DIGITS = re.compile(r"[0-9]{14}")  # strptime alone would take 1-digit months
METHODS = frozenset(
    {"hmm.scm_heorder.confirm", "hmm.scm_heorder.cancel", "hmm.scm_heorder.oostock"}
)
FAIL_MSG_MAX_CHARS = 100
EXT_ORDER_NO_MAX_CHARS = 64
ORDER_NO_MAX_CHARS = 128
"""Our soIds and onlineNos are at most 64 characters today (orders.fields.ORDER_ID); the cap
is looser so that callbacks for orders pushed before that rule still get through."""
DATA_MAX_NESTING = 8
"""Data is one flat object; deeper nesting is refused before json.loads could recurse."""


class InvalidCallback(ValueError):
    """A signed callback whose content breaks the contract; Haier should fix and resend it."""


@dataclass(frozen=True)
class Callback:
    """One verified callback. ``state`` is 1 for done/accepted, 0 for failed/refused.

    ``account`` is the Haier account whose AppKey and secret verified it: its orders are the
    ones the callback speaks of.
    """

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
    account: str = DEFAULT_ACCOUNT

    @classmethod
    def from_form(
        cls, fields: Mapping[str, str], received_at: datetime, account: str = DEFAULT_ACCOUNT
    ) -> Callback:
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
        if len(order_no) > ORDER_NO_MAX_CHARS or not order_no.isprintable():
            raise InvalidCallback(
                f"Data.PlatformOrderNo {_clip(order_no)} is not one of our order numbers: "
                f"those are printable text of at most {ORDER_NO_MAX_CHARS} characters"
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
            account=account,
        )


def parse_timestamp(text: str) -> datetime:
    """Read a Haier ``yyyyMMddHHmmss`` Beijing-time stamp as an aware datetime."""
    try:
        if not _TIMESTAMP_DIGITS.fullmatch(text):
            raise ValueError(text)
        naive = datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        raise InvalidCallback(
            f"TimeStamp {_clip(text)} is not yyyyMMddHHmmss (Beijing time), e.g. 20250430120000"
        ) from None
    return naive.replace(tzinfo=SHANGHAI)


def check_fresh(timestamp: datetime, now: datetime, window: timedelta) -> None:
    """Refuse a TimeStamp further than ``window`` from ``now``: a replayed old callback, or a
    sender whose clock is wrong (Haier's TimeStamp is Beijing time, which parse_timestamp
    applies, so a sender in another zone still compares correctly)."""
    skew = abs(now - timestamp)
    if skew > window:
        direction = "behind" if timestamp < now else "ahead of"
        raise InvalidCallback(
            f"TimeStamp {timestamp.strftime(TIMESTAMP_FORMAT)} (Beijing time) is "
            f"{int(skew.total_seconds())} s {direction} our clock; callbacks more than "
            f"{int(window.total_seconds())} s off are refused as replays. Resend with the "
            "current time, or check the sender's clock"
        )


def format_timestamp(moment: datetime) -> str:
    """Write an aware datetime the way Haier expects timestamps: Beijing time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(TIMESTAMP_FORMAT)


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value.strip():
        raise InvalidCallback(f"form field {name} is missing or blank")
    return value


def _data_object(raw: str) -> dict[str, Any]:
    if deeper_than(raw, DATA_MAX_NESTING):
        raise InvalidCallback(
            f"form field Data nests objects or lists more than {DATA_MAX_NESTING} levels deep; "
            "it must be one flat JSON object with PlatformOrderNo, State"
        )
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
    if len(value) > EXT_ORDER_NO_MAX_CHARS or not value.isprintable():
        raise InvalidCallback(
            f"Data.ExtOrderNo of order {order_no} must be printable text of at most "
            f"{EXT_ORDER_NO_MAX_CHARS} characters"
        )
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


def _clip(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text)} characters)"
