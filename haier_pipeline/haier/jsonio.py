"""JSON on the wire with money kept exact.

Haier's money is Java BigDecimal. Reading numbers with ``parse_float=Decimal`` means they never
pass through binary float; writing goes through :func:`dumps`, which prints a ``Decimal`` as
its own digits (``json.dumps`` can only print floats). A float in an outgoing body is refused
rather than printed, because by then its exact value is already lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def loads(data: bytes | str) -> Any:
    """Parse JSON; every non-integer number (and NaN/Infinity) becomes a ``Decimal``.

    NaN and Infinity are kept as ``Decimal`` specials rather than refused here so that one
    bad record is rejected by the record parser instead of failing the whole response.
    """
    return json.loads(data, parse_float=Decimal, parse_constant=Decimal)


def dumps(value: Any, *, allow_nan: bool = False) -> str:
    """Serialise to JSON text (UTF-8 characters unescaped), printing ``Decimal`` exactly.

    ``allow_nan`` is only for echoing received records back in error reports; an outgoing
    request must never carry NaN or Infinity.
    """
    return _encode(value, "$", allow_nan)


def _encode(value: Any, path: str, allow_nan: bool) -> str:
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return _decimal_text(value, path, allow_nan)
    if isinstance(value, float):
        raise TypeError(
            f"{path} is the float {value!r}; money must stay exact, so pass a Decimal "
            "(read order files with json.loads(..., parse_float=Decimal))"
        )
    if isinstance(value, Mapping):
        return "{" + ", ".join(_member(k, v, path, allow_nan) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        items = (_encode(v, f"{path}[{i}]", allow_nan) for i, v in enumerate(value))
        return "[" + ", ".join(items) + "]"
    raise TypeError(f"{path} is a {type(value).__name__}, which JSON cannot carry")


def _member(key: Any, value: Any, path: str, allow_nan: bool) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{path} has the non-text key {key!r}; JSON keys must be text")
    return f"{json.dumps(key, ensure_ascii=False)}: {_encode(value, f'{path}.{key}', allow_nan)}"


def _decimal_text(value: Decimal, path: str, allow_nan: bool) -> str:
    if value.is_finite():
        return str(value)
    if allow_nan:
        return "NaN" if value.is_nan() else ("-Infinity" if value.is_signed() else "Infinity")
    raise ValueError(f"{path} is {value}; JSON numbers must be finite")
