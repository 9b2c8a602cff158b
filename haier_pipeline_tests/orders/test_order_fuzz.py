"""Property tests of the order-file parser and validator (issue 7, "Beyond the list").

Random bytes, byte-level mutations of a valid file and field-level mutations of a valid order
all end one of two ways: an ``Order``, or ``InvalidOrder`` with at least one reason. Nothing
else escapes. A valid order written back as a file reads back unchanged.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from haier_pipeline.haier import jsonio
from haier_pipeline.haier.validation import COUNTY_CODE, PRODUCT_CODE
from haier_pipeline.orders.fields import FIELDS, ITEM_FIELDS, MOBILE, ORDER_FIELDS, ORDER_ID
from haier_pipeline.orders.inbox import parse_order_bytes
from haier_pipeline.orders.model import Order
from haier_pipeline.orders.validation import InvalidOrder, parse_order
from haier_pipeline_tests.fuzzing import JSON_VALUES, fuzz
from haier_pipeline_tests.orders.factories import DEFAULTS, make_order_dict

VALID = json.dumps(make_order_dict("SO-FUZZ"), ensure_ascii=False).encode("utf-8")


def _judge(data: bytes) -> Order | None:
    """The order the bytes hold, or None after checking that the refusal gives reasons."""
    try:
        return parse_order(parse_order_bytes(data, "fuzz.json"), DEFAULTS, source="fuzz.json")
    except InvalidOrder as invalid:
        assert invalid.problems and all(isinstance(p, str) and p for p in invalid.problems)
        assert str(invalid).startswith(("order ", "order in"))
        return None


def _round_trips(order: Order) -> None:
    """The order written back as a file (Decimals exact) reads back as the same Order."""
    written = jsonio.dumps({**order.to_ylh_payload(), "countyCode": order.county_code})
    assert _judge(written.encode("utf-8")) == order


def _any_bytes(data: bytes) -> None:
    order = _judge(data)
    if order is not None:
        _round_trips(order)


test_any_bytes_are_an_order_or_refused, test_any_bytes_slow = fuzz(st.binary(max_size=600))(
    _any_bytes
)


@st.composite
def _byte_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


test_mutated_files_are_an_order_or_refused, test_mutated_files_slow = fuzz(_byte_mutations())(
    _any_bytes
)


@st.composite
def _field_mutations(draw: st.DrawFn) -> dict[str, Any]:
    order = make_order_dict("SO-FUZZ", (("GA0SZC00U", 2, "1999.00"), ("BB0SZC00U", 1, "0.50")))
    for _ in range(draw(st.integers(1, 3))):
        items = order.get("itemList")
        in_item = draw(st.booleans()) and isinstance(items, list) and bool(items)
        in_item = in_item and isinstance(items[0], dict)
        target = items[0] if in_item else order
        known = sorted(ITEM_FIELDS if in_item else ORDER_FIELDS)
        key = draw(st.sampled_from(known) | st.text(max_size=8))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(JSON_VALUES)
    return order


def _mutated_order(order: dict[str, Any]) -> None:
    _any_bytes(json.dumps(order, ensure_ascii=False).encode("utf-8"))


test_mutated_fields_are_an_order_or_refused, test_mutated_fields_slow = fuzz(_field_mutations())(
    _mutated_order
)


def _text(key: str) -> st.SearchStrategy[str]:
    cap = FIELDS[key].max_chars or 50
    printable = st.characters(exclude_categories=("Cc", "Cs"))
    return st.text(printable, min_size=1, max_size=cap).filter(str.strip)


_MONEY = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2)


@st.composite
def _valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    lines = draw(
        st.lists(
            st.tuples(st.from_regex(PRODUCT_CODE, fullmatch=True), st.integers(1, 100), _MONEY),
            min_size=1,
            max_size=5,
        )
    )
    order = make_order_dict(
        draw(st.from_regex(ORDER_ID, fullmatch=True)),
        lines,
        county_code=draw(st.from_regex(COUNTY_CODE, fullmatch=True)),
        onlineNo=draw(st.from_regex(ORDER_ID, fullmatch=True)),
        consigneeMobile=draw(st.from_regex(MOBILE, fullmatch=True)),
        createTime=draw(st.integers(946_684_800_000, 4_102_444_799_999)),
    )
    for key in ("consigneeName", "province", "city", "area", "town", "detailAddress", "remark"):
        order[key] = draw(_text(key))
    return order


def _valid_order(order: dict[str, Any]) -> None:
    parsed = _judge(json.dumps(order, ensure_ascii=False).encode("utf-8"))
    assert parsed is not None
    assert (parsed.so_id, parsed.remark, parsed.detail_address) == (
        order["soId"],
        order["remark"],
        order["detailAddress"],
    )
    assert parsed.total_amt == Decimal(order["totalAmt"])
    _round_trips(parsed)


test_valid_orders_round_trip_unchanged, test_valid_orders_slow = fuzz(_valid_orders())(_valid_order)
