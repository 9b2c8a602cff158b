"""The callback receiver over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.model import parse_timestamp
from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver, main
from haier_pipeline.callbacks.signing import sign
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET, callback_form, spool_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def post(receiver: CallbackReceiver, form: dict[str, str]) -> requests.Response:
    return requests.post(receiver.url, data=form, timeout=5)


def test_a_good_callback_is_spooled_and_answered_exactly(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    before = datetime.now(UTC)
    response = post(receiver, callback_form("P-1001"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    answer = response.json()
    stamp = answer.pop("timeStamp")
    assert answer == {
        "success": True,
        "code": "success",
        "description": "成功",
        "data": {"statusCode": "200", "message": "成功", "platformOrderNo": "P-1001"},
    }
    assert re.fullmatch(r"\d{14}", stamp)
    assert abs(parse_timestamp(stamp) - before) < timedelta(minutes=1)

    [spooled] = spool.pending(spool_dir)
    assert spooled.platform_order_no == "P-1001"
    assert spooled.state == 1
    assert spooled.ext_order_no == "SO.20250430.000001"
    assert before <= spooled.received_at <= datetime.now(UTC)


def test_chinese_fail_msg_round_trips(receiver: CallbackReceiver, spool_dir: Path) -> None:
    message = "库存不足：海尔 EC6001-HT3 电热水器，南京鼓楼区无货"
    form = callback_form("订单-42", method="hmm.scm_heorder.oostock", state=0, fail_msg=message)

    response = post(receiver, form)

    assert response.json()["data"]["platformOrderNo"] == "订单-42"
    [spooled] = spool.pending(spool_dir)
    assert spooled.fail_msg == message
    assert spooled.platform_order_no == "订单-42"
    assert spooled.method == "hmm.scm_heorder.oostock"


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({**callback_form(), "Sign": "0" * 32}, "Sign does not match"),
        ({k: v for k, v in callback_form().items() if k != "Sign"}, "Sign is missing"),
        ({**callback_form(), "Sign": ""}, "Sign is missing"),
        (callback_form(secret="not-our-secret"), "Sign does not match"),
        ({**callback_form(), "Data": callback_form("P-other")["Data"]}, "Sign does not match"),
        (callback_form(app_key="SomeoneElse"), "AppKey 'SomeoneElse' is not"),
    ],
    ids=["bad-sign", "no-sign", "empty-sign", "wrong-secret", "tampered-data", "wrong-appkey"],
)
def test_unauthenticated_callbacks_are_refused_and_change_nothing(
    receiver: CallbackReceiver, spool_dir: Path, form: dict[str, str], reason: str
) -> None:
    response = post(receiver, form)

    assert response.status_code == 401
    assert response.json()["success"] is False
    assert reason in response.json()["description"]
    assert spool_files(spool_dir) == []


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        (callback_form(method="hmm.scm_heorder.refund"), "Method 'hmm.scm_heorder.refund'"),
        (callback_form(data="not json"), "Data is not valid JSON"),
        (callback_form(data="[1, 2]"), "Data must be a JSON object"),
        (callback_form(data='{"State": 1}'), "Data.PlatformOrderNo is missing"),
        (callback_form(state=2), "Data.State of order P-1001 is 2"),
        (callback_form(state="yes"), "Data.State of order P-1001 is 'yes'"),
        (callback_form(state=True), "Data.State of order P-1001 is True"),
        (callback_form(fail_msg="x" * 101), "Data.FailMsg of order P-1001 has 101 characters"),
    ],
    ids=[
        "method",
        "data-not-json",
        "data-list",
        "no-order-no",
        "state-2",
        "state-text",
        "state-bool",
        "fail-msg-101",
    ],
)
def test_invalid_content_is_refused_with_400_naming_the_field(
    receiver: CallbackReceiver, spool_dir: Path, form: dict[str, str], reason: str
) -> None:
    response = post(receiver, form)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert reason in response.json()["description"]
    assert spool_files(spool_dir) == []


def test_a_bad_timestamp_is_refused(receiver: CallbackReceiver, spool_dir: Path) -> None:
    fields = {k: v for k, v in callback_form().items() if k != "Sign"}
    fields["TimeStamp"] = "2025-04-30 12:00"
    response = post(receiver, {**fields, "Sign": sign(fields, SECRET)})

    assert response.status_code == 400
    assert "TimeStamp '2025-04-30 12:00'" in response.json()["description"]
    assert spool_files(spool_dir) == []


def test_limits_and_quoted_state_are_accepted(receiver: CallbackReceiver, spool_dir: Path) -> None:
    assert post(receiver, callback_form("P-1", fail_msg="失" * 100)).status_code == 200
    assert post(receiver, callback_form("P-2", state="0")).status_code == 200

    first, second = spool.pending(spool_dir)
    assert first.fail_msg == "失" * 100
    assert second.state == 0


def test_a_repeated_form_field_is_refused(receiver: CallbackReceiver, spool_dir: Path) -> None:
    pairs = [*callback_form().items(), ("AppKey", "Another")]
    response = requests.post(receiver.url, data=pairs, timeout=5)

    assert response.status_code == 400
    assert "AppKey appears more than once" in response.json()["description"]
    assert spool_files(spool_dir) == []


def test_a_request_without_content_length_is_refused(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    host, port = receiver.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = conn.makefile("rb").read()

    assert reply.startswith(b"HTTP/1.0 411")
    assert spool_files(spool_dir) == []


def test_a_failed_spool_write_is_not_acknowledged(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    (spool_dir / "pending").rmdir()
    (spool_dir / "pending").write_text("a file where the folder should be", encoding="utf-8")

    response = post(receiver, callback_form())

    assert response.status_code == 500
    assert response.json()["success"] is False


def test_concurrent_callbacks_are_all_spooled(receiver: CallbackReceiver, spool_dir: Path) -> None:
    forms = [callback_form(f"P-{i:02d}") for i in range(50)]
    with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda f: session.post(receiver.url, data=f, timeout=5), forms))

    assert [r.status_code for r in responses] == [200] * 50
    spooled = spool.pending(spool_dir)
    assert sorted(c.platform_order_no for c in spooled) == [f"P-{i:02d}" for i in range(50)]


def test_decisions_are_logged_without_secret_or_sign(
    receiver: CallbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    good = callback_form("P-LOG")
    bad = {**callback_form("P-BAD"), "Sign": "F" * 32}
    with caplog.at_level(logging.DEBUG, logger="haier_pipeline.callbacks"):
        post(receiver, good)
        post(receiver, bad)

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "callback accepted" in text
    assert "P-LOG" in text
    assert "callback refused" in text
    assert "Sign does not match" in text
    assert SECRET not in text
    assert good["Sign"] not in text
    assert "F" * 32 not in text


def test_receiver_refuses_to_start_without_credentials(spool_dir: Path) -> None:
    with pytest.raises(ValueError, match="non-blank app_key and secret"):
        CallbackReceiver(spool_dir, AccountKey(APP_KEY, " "))


def test_receiver_refuses_two_accounts_sharing_one_app_key(spool_dir: Path) -> None:
    """A callback carrying the shared AppKey could not say whose order it is."""
    keys = [AccountKey(APP_KEY, SECRET, "north"), AccountKey(APP_KEY, "other", "south")]
    with pytest.raises(ValueError, match="accounts north and south use the same callback AppKey"):
        CallbackReceiver(spool_dir, keys)


def test_stop_releases_the_port(spool_dir: Path) -> None:
    with CallbackReceiver(spool_dir, AccountKey(APP_KEY, SECRET)) as first:
        port = int(first.url.rstrip("/").rsplit(":", 1)[1])
    with CallbackReceiver(spool_dir, AccountKey(APP_KEY, SECRET), port=port) as second:
        assert post(second, callback_form()).status_code == 200


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "HAIER_CALLBACK_APP_KEY"),
        ({"HAIER_CALLBACK_APP_KEY": APP_KEY}, "HAIER_CALLBACK_SECRET"),
    ],
)
def test_main_names_a_missing_env_var_and_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    present: dict[str, str],
    missing: str,
) -> None:
    for name in ("HAIER_CALLBACK_APP_KEY", "HAIER_CALLBACK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in present.items():
        monkeypatch.setenv(name, value)

    assert main(["--port", "0"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: environment variable {missing} is not set")


def test_main_serves_until_sigterm(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        "HAIER_CALLBACK_APP_KEY": APP_KEY,
        "HAIER_CALLBACK_SECRET": SECRET,
        "HAIER_CALLBACK_SPOOL": str(spool_dir),
        "PYTHONPATH": str(REPO_ROOT),
    }
    code = "import sys; from haier_pipeline.callbacks.receiver import main; sys.exit(main())"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        response = requests.post(url.group(0), data=callback_form("P-CLI"), timeout=5)
        assert response.json()["success"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()

    assert [c.platform_order_no for c in spool.pending(spool_dir)] == ["P-CLI"]
    assert json.loads(spool.pending(spool_dir)[0].raw_data)["PlatformOrderNo"] == "P-CLI"
