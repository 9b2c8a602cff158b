"""Parameter checks that answer HTTP 400 the way the gateway does.

Each message names the field, the record it belongs to and what the caller should send, so a
client developer reading a 400 in a log knows what to fix without opening the sandbox code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from haier_pipeline.sandbox.protocol import MAX_CODES_PER_CALL
from haier_pipeline.sandbox.wire import BadRequest, parse_json

PRODUCT_CODE = re.compile(r"[A-Z0-9]{9}")
COUNTY_CODE = re.compile(r"[0-9]{6}")


def json_body(raw: bytes, record: str) -> Any:
    """The parsed request body, or a 400 saying the body is not JSON."""
    try:
        return parse_json(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"{record}: body is not UTF-8 JSON ({exc}); send a JSON body") from exc


def json_object(raw: bytes, record: str) -> dict[str, Any]:
    body = json_body(raw, record)
    if not isinstance(body, dict):
        raise BadRequest(f"{record}: body must be a JSON object, got {type(body).__name__}")
    return body


def required_str(body: Mapping[str, Any], field: str, record: str) -> str:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRequest(f"{record}: {field} is required; send it as a non-empty string")
    if not isinstance(value, str):
        raise BadRequest(f"{record}: {field} must be a string, got {type(value).__name__}")
    return value


def optional_str(body: Mapping[str, Any], field: str, record: str) -> str | None:
    if body.get(field) in (None, ""):
        return None
    return required_str(body, field, record)


def product_code(value: Any, field: str, record: str) -> str:
    if not isinstance(value, str) or not PRODUCT_CODE.fullmatch(value):
        raise BadRequest(
            f"{record}: {field}={value!r} is not a product code; "
            "send 9 upper-case letters or digits, e.g. GA0SZC00U"
        )
    return value


def county_code(body: Mapping[str, Any], field: str, record: str) -> str:
    value = required_str(body, field, record)
    if not COUNTY_CODE.fullmatch(value):
        raise BadRequest(
            f"{record}: {field}={value!r} is not a county code; "
            "send the 6-digit GB/T 2260 code, e.g. 110101"
        )
    return value


def code_list(body: Mapping[str, Any], field: str, record: str, *, required: bool) -> list[str]:
    """A batch of product codes: at most 20, each well formed; empty allowed unless required."""
    value = body.get(field)
    if value is None:
        value = []
    if not isinstance(value, list):
        raise BadRequest(f"{record}: {field} must be a JSON list of product codes")
    if required and not value:
        raise BadRequest(f"{record}: {field} is required; send 1 to 20 product codes")
    if len(value) > MAX_CODES_PER_CALL:
        raise BadRequest(
            f"{record}: {field} holds {len(value)} codes, at most {MAX_CODES_PER_CALL} "
            "are allowed per call; split the request into batches of 20"
        )
    return [product_code(code, f"{field}[{i}]", record) for i, code in enumerate(value)]


def required_int(body: Mapping[str, Any], field: str, record: str) -> int:
    """An integer; digit strings are accepted because the gateway's Java side coerces them."""
    value = body.get(field)
    if value is None:
        raise BadRequest(f"{record}: {field} is required; send an integer")
    return _as_int(value, field, record)


def optional_int(body: Mapping[str, Any], field: str, record: str) -> int | None:
    value = body.get(field)
    return None if value in (None, "") else _as_int(value, field, record)


def _as_int(value: Any, field: str, record: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise BadRequest(f"{record}: {field}={value!r} is not an integer; send an integer")


def required_decimal(body: Mapping[str, Any], field: str, record: str) -> Decimal:
    """Money as a JSON number or a numeric string, read exactly (never through float)."""
    value = body.get(field)
    if value is None:
        raise BadRequest(f"{record}: {field} is required; send a decimal amount")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise BadRequest(f"{record}: {field}={value!r} is not a decimal amount")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise BadRequest(f"{record}: {field}={value!r} is not a decimal amount") from exc
    if not amount.is_finite():
        raise BadRequest(f"{record}: {field}={value!r} is not a finite decimal amount")
    return amount


def optional_bool(body: Mapping[str, Any], field: str, record: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise BadRequest(f"{record}: {field}={value!r} must be true or false")
