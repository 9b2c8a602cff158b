"""The spool: atomic writes, arrival order, idempotent mark_done, loud failure on bad files."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.model import Callback, InvalidCallback, parse_timestamp
from haier_pipeline_tests.callbacks.forms import callback_form

RECEIVED = datetime(2025, 4, 30, 4, 0, 5, 123456, tzinfo=UTC)


def make_callback(order_no: str = "P-1001", state: int = 1, fail_msg: str = "") -> Callback:
    form = callback_form(order_no, state=state, fail_msg=fail_msg, timestamp="20250430120000")
    return Callback.from_form(form, RECEIVED)


def test_write_puts_one_complete_file_in_pending_and_nothing_in_tmp(spool_dir: Path) -> None:
    path = spool.write(spool_dir, make_callback())

    assert path.parent == spool_dir / "pending"
    assert path.name.endswith(".json")
    assert list((spool_dir / "tmp").iterdir()) == []
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["platform_order_no"] == "P-1001"
    assert "Sign" not in path.read_text(encoding="utf-8")


def test_pending_reads_back_every_field_tz_aware(spool_dir: Path) -> None:
    written = make_callback("订单-7", state=0, fail_msg="库存不足，无法确认")
    path = spool.write(spool_dir, written)

    [back] = spool.pending(spool_dir)

    assert back.path == path
    assert back.method == "hmm.scm_heorder.confirm"
    assert back.app_key == "HaierApp01"
    assert back.platform_order_no == "订单-7"
    assert back.ext_order_no == "SO.20250430.000001"
    assert back.state == 0
    assert back.fail_msg == "库存不足，无法确认"
    assert back.received_at == RECEIVED
    assert back.received_at.utcoffset() == timedelta(0)
    assert back.timestamp == datetime(2025, 4, 30, 4, 0, 0, tzinfo=UTC)
    assert back.timestamp.utcoffset() == timedelta(hours=8)
    assert back.raw_data == written.raw_data


def test_pending_lists_callbacks_in_arrival_order(spool_dir: Path) -> None:
    for i in range(30):
        spool.write(spool_dir, make_callback(f"P-{i:03d}"))

    assert [c.platform_order_no for c in spool.pending(spool_dir)] == [
        f"P-{i:03d}" for i in range(30)
    ]


def test_concurrent_writes_lose_nothing(spool_dir: Path) -> None:
    def write_many(worker: int) -> None:
        for i in range(25):
            spool.write(spool_dir, make_callback(f"W{worker}-{i}"))

    threads = [threading.Thread(target=write_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    names = {c.platform_order_no for c in spool.pending(spool_dir)}
    assert names == {f"W{w}-{i}" for w in range(8) for i in range(25)}


def test_mark_done_moves_the_file_and_is_idempotent(spool_dir: Path) -> None:
    spool.write(spool_dir, make_callback("P-1"))
    spool.write(spool_dir, make_callback("P-2"))
    first, second = spool.pending(spool_dir)

    spool.mark_done(first)
    spool.mark_done(first)

    assert [c.platform_order_no for c in spool.pending(spool_dir)] == ["P-2"]
    assert (spool_dir / "done" / first.path.name).is_file()
    assert not first.path.exists()
    assert second.path.exists()


def test_mark_done_of_a_vanished_file_says_so(spool_dir: Path) -> None:
    spool.write(spool_dir, make_callback("P-9"))
    [callback] = spool.pending(spool_dir)
    callback.path.unlink()

    with pytest.raises(FileNotFoundError, match="P-9"):
        spool.mark_done(callback)


def test_a_crash_before_mark_done_shows_the_callback_again(spool_dir: Path) -> None:
    spool.write(spool_dir, make_callback("P-1"))
    spool.pending(spool_dir)  # a consumer read it, then died before mark_done

    assert [c.platform_order_no for c in spool.pending(spool_dir)] == ["P-1"]


def test_pending_of_a_missing_spool_is_empty(tmp_path: Path) -> None:
    assert spool.pending(tmp_path / "nowhere") == []


def test_pending_ignores_half_written_tmp_files(spool_dir: Path) -> None:
    spool.write(spool_dir, make_callback("P-1"))
    (spool_dir / "tmp" / "20990101T000000000000000Z-x.json").write_text("{", encoding="utf-8")

    assert [c.platform_order_no for c in spool.pending(spool_dir)] == ["P-1"]


def test_a_corrupt_pending_file_is_named_in_a_clear_error(spool_dir: Path) -> None:
    spool.write(spool_dir, make_callback("P-1"))
    bad = spool_dir / "pending" / "20990101T000000000000000Z-bad.json"
    bad.write_text('{"format_version": 1}', encoding="utf-8")

    with pytest.raises(spool.SpoolError, match=r"20990101T000000000000000Z-bad\.json.*move it out"):
        spool.pending(spool_dir)


def test_timestamp_is_read_as_beijing_time() -> None:
    assert parse_timestamp("20250430120000") == datetime(2025, 4, 30, 4, 0, tzinfo=UTC)
    with pytest.raises(InvalidCallback, match="TimeStamp '2025-04-30' is not yyyyMMddHHmmss"):
        parse_timestamp("2025-04-30")
