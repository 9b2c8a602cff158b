"""SpooledJson on its own: validation before any item is read, the shape scan, exact numbers."""

from __future__ import annotations

import codecs
import json
from decimal import Decimal

import pytest

from haier_pipeline.haier.streamjson import MEMORY_BYTES, SpooledJson

WATCH = frozenset({"success", "data"})


def spooled(body: bytes, piece: int = 7) -> SpooledJson:
    """The body as it arrives off the wire: in small pieces, to cross every boundary."""
    return SpooledJson(body[i : i + piece] for i in range(0, len(body), piece))


def test_an_envelope_is_scanned_for_its_top_level_members_only() -> None:
    body = b'{"data": [{"success": false, "data": 1}], "code": "200", "success": true}'
    answer = spooled(body)
    assert answer.scan(WATCH)
    assert answer.kind == "start_map"
    assert answer.members == {"data": ("start_array", None), "success": ("boolean", True)}


def test_a_bare_list_has_no_members() -> None:
    answer = spooled(b'[{"success": true}]')
    assert answer.scan(WATCH)
    assert (answer.kind, answer.members) == ("start_array", {})


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>maintenance</body></html>",
        b'{"success": true, "data": [{"productCode": "GA0SZC00U"}, {"produ',
        b'[{"a": 1}] trailing',
        b"",
        b"[1, NaN]",
        b'["\xff\xfe"]',
    ],
    ids=["html", "truncated", "trailing-garbage", "empty", "nan", "bad-utf8"],
)
def test_anything_but_one_complete_json_document_fails_the_scan(body: bytes) -> None:
    assert not spooled(body).scan(WATCH)


def test_items_keep_numbers_exact_and_chinese_text_unchanged() -> None:
    records = [{"group": "电热水器", "brand": "卡萨帝", "price": "1999.00"}]
    body = (
        b'{"success": true, "data": [{"p": 0.10, "q": 12345678901234567890.123456789, '
        b'"n": 7, "big": 1e400}, ' + json.dumps(records[0], ensure_ascii=False).encode() + b"]}"
    )
    answer = spooled(body)
    assert answer.scan(WATCH)
    first, second = answer.items("data.item")
    assert first == {
        "p": Decimal("0.10"),
        "q": Decimal("12345678901234567890.123456789"),
        "n": 7,
        "big": Decimal("1E+400"),
    }
    assert str(first["p"]) == "0.10" and isinstance(first["n"], int)
    assert second == records[0]


def test_a_utf8_byte_order_mark_is_skipped_as_json_loads_does() -> None:
    answer = spooled(codecs.BOM_UTF8 + '[{"brand": "海尔"}]'.encode())
    assert answer.scan(WATCH)
    assert list(answer.items("item")) == [{"brand": "海尔"}]


def test_a_body_bigger_than_the_memory_budget_streams_from_disk() -> None:
    count = MEMORY_BYTES // 40 + 1000
    items = [{"productCode": f"P{i:08d}", "g": "冰箱"} for i in range(count)]
    body = json.dumps(items, ensure_ascii=False).encode()
    assert len(body) > MEMORY_BYTES
    answer = spooled(body, piece=65536)
    assert answer.scan(WATCH)
    assert answer.head(2) == b"[{"
    streamed = answer.items("item")
    assert next(streamed) == items[0]
    assert sum(1 for _ in streamed) == count - 1


def test_items_and_load_close_the_file_when_done() -> None:
    answer = spooled('{"success": false, "code": "E1", "message": "密码错误"}'.encode())
    assert answer.scan(WATCH)
    assert answer.load() == {"success": False, "code": "E1", "message": "密码错误"}
    with pytest.raises(ValueError, match="closed file"):
        answer.head(1)
    answer = spooled(b"[1, 2]")
    assert answer.scan(WATCH)
    assert list(answer.items("item")) == [1, 2]
    with pytest.raises(ValueError, match="closed file"):
        answer.head(1)


def test_a_failed_download_closes_the_spool_and_raises() -> None:
    def pieces() -> object:
        yield b"[1,"
        raise ConnectionError("peer went away")

    with pytest.raises(ConnectionError, match="peer went away"):
        SpooledJson(pieces())  # type: ignore[arg-type]
