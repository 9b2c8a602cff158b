"""Wire JSON: money in and out without passing through float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from haier_pipeline.haier import jsonio


def test_numbers_with_fractions_become_decimals() -> None:
    value = jsonio.loads('{"a": 0.1, "b": 12345678901234567.89, "c": 3, "d": 1e2}')
    assert value == {
        "a": Decimal("0.1"),
        "b": Decimal("12345678901234567.89"),
        "c": 3,
        "d": Decimal("1E+2"),
    }
    assert isinstance(value["c"], int)


def test_nan_and_infinity_are_kept_for_the_record_parser_to_reject() -> None:
    value = jsonio.loads("[NaN, Infinity, -Infinity]")
    assert [v.is_finite() for v in value] == [False, False, False]


def test_decimals_are_written_with_their_exact_digits() -> None:
    body = {"totalAmt": Decimal("3998.20"), "items": [{"p": Decimal("0.1")}], "n": "中文"}
    text = jsonio.dumps(body)
    assert text == '{"totalAmt": 3998.20, "items": [{"p": 0.1}], "n": "中文"}'
    assert jsonio.loads(text) == body


def test_float_in_a_body_is_refused_naming_its_path() -> None:
    with pytest.raises(TypeError, match=r"\$\.itemList\[1\]\.retailPrice is the float 0\.1"):
        jsonio.dumps({"itemList": [{}, {"retailPrice": 0.1}]})


def test_nan_is_refused_in_bodies_but_echoed_in_reports() -> None:
    with pytest.raises(ValueError, match=r"\$\.x is NaN"):
        jsonio.dumps({"x": Decimal("NaN")})
    assert jsonio.dumps([Decimal("NaN"), Decimal("-Infinity")], allow_nan=True) == (
        "[NaN, -Infinity]"
    )


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        jsonio.dumps({"x": {1, 2}})
    with pytest.raises(TypeError, match="non-text key 1"):
        jsonio.dumps({1: "a"})
