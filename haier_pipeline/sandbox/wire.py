"""JSON on the wire, with money kept exact, and the sandbox's answer shapes.

The stdlib encoder can write a ``Decimal`` only by going through ``float``; the real gateway
sends BigDecimal money as exact JSON numbers (and sometimes as strings), so this small encoder
writes a ``Decimal`` as its own digits. ``Raw`` splices precomputed JSON (the full catalog) in
without re-encoding it on every call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring  # keeps Chinese text as is (ensure_ascii=False)
from typing import Any

OK_CODE = "200"
OK_MESSAGE = "成功"


class Raw(str):
    """Text that is already JSON and is written verbatim."""


def encode(value: Any) -> str:
    """Encode ``value`` as compact JSON; Decimals become exact JSON numbers."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Any, out: Callable[[str], object]) -> None:
    if isinstance(value, Raw):
        out(value)
    elif isinstance(value, str):
        out(encode_basestring(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, Decimal):
        out(decimal_text(value))
    elif isinstance(value, float):  # fault settings and the like; money is always Decimal
        if not math.isfinite(value):
            raise ValueError(f"cannot encode {value} as JSON")
        out(float.__repr__(value))
    elif isinstance(value, Mapping):
        _encode_object(value, out)
    elif isinstance(value, list | tuple | frozenset | set):
        _encode_array(value, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as sandbox JSON: {value!r}")


def _encode_object(value: Mapping[str, Any], out: Callable[[str], object]) -> None:
    out("{")
    first = True
    for key, item in value.items():
        if not first:
            out(",")
        first = False
        out(encode_basestring(str(key)))
        out(":")
        _encode(item, out)
    out("}")


def _encode_array(value: Any, out: Callable[[str], object]) -> None:
    out("[")
    for index, item in enumerate(value):
        if index:
            out(",")
        _encode(item, out)
    out("]")


def decimal_text(value: Decimal) -> str:
    """Plain digits (never exponent notation), so any JSON parser reads the exact value."""
    if not value.is_finite():
        raise ValueError(f"money must be finite, got {value}")
    return format(value, "f")


def parse_json(raw: bytes) -> Any:
    """Parse a request body; JSON numbers with a fraction become Decimal, never float."""
    return json.loads(raw.decode("utf-8"), parse_float=Decimal)


def ok(data: Any) -> dict[str, Any]:
    """The success envelope (sandbox convention, haier-api.md section 1)."""
    return {"success": True, "code": OK_CODE, "message": OK_MESSAGE, "data": data}


def failure(code: str, message: str, data: Any = None) -> dict[str, Any]:
    """A failure envelope: business failures (HTTP 200) and HTTP errors share this shape."""
    return {"success": False, "code": code, "message": message, "data": data}


class ApiError(Exception):
    """An answer other than success, raised from deep inside a handler."""

    status = 500

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        return failure(self.code, self.message, self.data)


class BusinessFailure(ApiError):
    """HTTP 200 with success false: the gateway understood the call and refused it."""

    status = 200


class BadRequest(ApiError):
    """HTTP 400: the caller sent bad parameters; retrying the same call cannot help."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__("400", message)


class Unauthorized(ApiError):
    """HTTP 401: token missing, unknown, revoked or expired (or wrong client credentials)."""

    status = 401

    def __init__(self, message: str) -> None:
        super().__init__("401", message)
