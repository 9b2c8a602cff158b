import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from haier_pipeline.orders import (
    InvalidOrder,
    archive,
    file_fingerprint,
    parse_order,
    pending_files,
    read_order_file,
)
from haier_pipeline_tests.orders.factories import DEFAULTS, make_order_dict, write_order_file


def read_errors(path: Path) -> list[str]:
    with pytest.raises(InvalidOrder) as caught:
        read_order_file(path)
    assert caught.value.source == path.name
    assert caught.value.so_id is None
    return caught.value.problems


def test_pending_files_lists_json_names_by_name_and_skips_temporary_and_hidden(
    inbox: Path,
) -> None:
    for name in ["b.json", "a.json", "c.json.tmp", ".d.json", "e.txt", "f.json.part"]:
        (inbox / name).write_text("{}", encoding="utf-8")
    (inbox / "g.json").mkdir()  # listed so that push_orders records and sets it aside
    (inbox / "tmp").mkdir()
    assert [path.name for path in pending_files(inbox)] == ["a.json", "b.json", "g.json"]


def test_pending_files_refuses_a_missing_inbox(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="HAIER_ORDER_INBOX"):
        pending_files(tmp_path / "nowhere")


def test_archive_moves_the_file_next_to_the_inbox(inbox: Path) -> None:
    path = write_order_file(inbox, make_order_dict("SO-1"))
    content = path.read_bytes()
    moved = archive(path, "pushed")
    assert moved == inbox.parent / "processed" / "pushed" / "SO-1.json"
    assert moved.read_bytes() == content
    assert not path.exists()
    assert pending_files(inbox) == []


def test_archive_again_after_the_move_returns_the_same_place(inbox: Path) -> None:
    path = write_order_file(inbox, make_order_dict("SO-1"))
    first = archive(path, "rejected")
    assert archive(path, "rejected") == first
    assert first.exists()


def test_a_name_clash_gets_a_suffix_and_never_overwrites(inbox: Path) -> None:
    first = archive(write_order_file(inbox, make_order_dict("SO-1"), "daily.json"), "pushed")
    path = write_order_file(inbox, make_order_dict("SO-2"), "daily.json")
    second = archive(path, "pushed")
    third = archive(write_order_file(inbox, make_order_dict("SO-3"), "daily.json"), "pushed")
    assert [p.name for p in (first, second, third)] == [
        "daily.json",
        "daily.1.json",
        "daily.2.json",
    ]
    assert [json.loads(p.read_text(encoding="utf-8"))["soId"] for p in (first, second, third)] == [
        "SO-1",
        "SO-2",
        "SO-3",
    ]
    assert archive(path, "pushed") == third  # a retried step finds the latest archive


def test_archive_of_a_file_that_was_never_there_fails(inbox: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither in the inbox nor archived"):
        archive(inbox / "ghost.json", "pushed")


@pytest.mark.parametrize("outcome", ["", "../escape", "a/b", ".."])
def test_archive_refuses_an_outcome_that_is_not_a_folder_name(inbox: Path, outcome: str) -> None:
    path = write_order_file(inbox, make_order_dict("SO-1"))
    with pytest.raises(ValueError, match="is not a folder name"):
        archive(path, outcome)
    assert path.exists()


def test_fingerprint_is_the_sha256_of_the_bytes(inbox: Path) -> None:
    path = write_order_file(inbox, make_order_dict("SO-1"))
    before = file_fingerprint(path)
    assert before == hashlib.sha256(path.read_bytes()).hexdigest()
    write_order_file(inbox, make_order_dict("SO-1", remark="改过"))
    assert file_fingerprint(path) != before


def test_numbers_are_read_as_exact_decimals(inbox: Path) -> None:
    path = inbox / "SO-1.json"
    path.write_text('{"totalAmt": 0.1, "totalQty": 3, "big": 1999.99}', encoding="utf-8")
    raw = read_order_file(path)
    assert raw == {"totalAmt": Decimal("0.1"), "totalQty": 3, "big": Decimal("1999.99")}
    assert type(raw["totalQty"]) is int


def test_a_byte_order_mark_is_tolerated(inbox: Path) -> None:
    path = inbox / "SO-1.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(make_order_dict("SO-1")).encode())
    assert read_order_file(path)["soId"] == "SO-1"


def test_chinese_text_round_trips_from_file_to_payload(inbox: Path) -> None:
    raw = make_order_dict("SO-1", consigneeName="欧阳娜娜", remark="请勿敲门，放门口 📦")
    path = write_order_file(inbox, raw)
    assert "欧阳娜娜".encode() in path.read_bytes()
    escaped = inbox / "SO-2.json"
    escaped.write_text(json.dumps(make_order_dict("SO-2", detailAddress="香港中路 8 号")))
    assert "\\u" in escaped.read_text(encoding="ascii")
    payload = parse_order(read_order_file(path), DEFAULTS, source=path.name).to_ylh_payload()
    assert (payload["consigneeName"], payload["remark"]) == ("欧阳娜娜", "请勿敲门，放门口 📦")
    assert (payload["province"], payload["shopName"]) == ("北京市", "测试旗舰店")
    assert read_order_file(escaped)["detailAddress"] == "香港中路 8 号"
    assert "欧阳娜娜" in json.dumps(payload, ensure_ascii=False, default=str)


def test_a_file_that_is_not_json_names_the_file_and_the_place(inbox: Path) -> None:
    path = inbox / "broken.json"
    path.write_text('{"soId": "SO-1",\n "totalAmt": }', encoding="utf-8")
    assert read_errors(path) == [
        "the file is not valid JSON (Expecting value: line 2 column 14 (char 30)); fix the syntax"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"[{}]", "the file holds a list, not an object; write one order as a JSON object"),
        (b'"SO-1"', "the file holds the single value 'SO-1', not an object"),
        (b'{"soId": "a", "soId": "b"}', "the file is not valid JSON (key 'soId' appears twice"),
        ('{"consigneeName": "张三"}'.encode("gbk"), "the file is not UTF-8 text (byte 19)"),
    ],
)
def test_unreadable_files_raise_invalid_order(inbox: Path, content: bytes, expected: str) -> None:
    path = inbox / "bad.json"
    path.write_bytes(content)
    problems = read_errors(path)
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems


def test_nan_in_a_file_reaches_validation_as_a_named_problem(inbox: Path) -> None:
    path = inbox / "SO-1.json"
    text = json.dumps(make_order_dict("SO-1")).replace('"totalAmt": "1999.00"', '"totalAmt": NaN')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidOrder, match="totalAmt: NaN is not an amount"):
        parse_order(read_order_file(path), DEFAULTS, source=path.name)
