"""The callback receiver under hostile input (issue 7: findings 9, 11 and the receiver's 13).

Real HTTP to a real receiver on 127.0.0.1, real spool files.
"""

from __future__ import annotations

import errno
import json
import select
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.model import format_timestamp
from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver, main
from haier_pipeline.environment import HAIER_CALLBACK_REPLAY_WINDOW_S
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET, callback_form, spool_files


def _pending(spool_dir: Path) -> list[Path]:
    return sorted((spool_dir / "pending").glob("*.json"))


def _post(receiver: CallbackReceiver, form: dict[str, str], path: str = "") -> requests.Response:
    return requests.post(receiver.url + path, data=form, timeout=10)


def _stamp(offset: timedelta) -> str:
    return format_timestamp(datetime.now(UTC) + offset)


# -- 13. only the callback path; a deep listen backlog -------------------------------------


@pytest.mark.parametrize("path", ["other", "callbacks", "%2e%2e/x", "/x", "favicon.ico"])
def test_a_post_to_any_other_path_is_answered_404_and_stores_nothing(
    path: str, receiver: CallbackReceiver, spool_dir: Path
) -> None:
    response = _post(receiver, callback_form(), path)

    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "callbacks go to /" in response.json()["description"]
    assert _pending(spool_dir) == []


def test_the_callback_path_with_a_query_string_is_served(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    assert _post(receiver, callback_form(), "?from=haier").status_code == 200
    assert len(_pending(spool_dir)) == 1


def test_the_listen_backlog_queues_well_over_128_connections(spool_dir: Path) -> None:
    """Connections the receiver has not accepted yet wait in the kernel's queue; with the
    stdlib's backlog of 5, the 7th connection of a burst is left unanswered."""
    receiver = CallbackReceiver(
        spool_dir, AccountKey(APP_KEY, SECRET)
    )  # listening, not yet accepting
    host, port = receiver.url.removeprefix("http://").rstrip("/").split(":")
    sockets = [socket.socket() for _ in range(160)]
    try:
        for sock in sockets:
            sock.setblocking(False)
            assert sock.connect_ex((host, int(port))) in (0, errno.EINPROGRESS)
        _, writable, _ = select.select([], sockets, [], 2.0)
        connected = [s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
        assert len(connected) >= 128
    finally:
        for sock in sockets:
            sock.close()
        receiver.stop()


# -- 9. deep nesting in a signed Data ------------------------------------------------------


def test_deeply_nested_data_is_answered_400_with_a_reason_and_the_receiver_keeps_serving(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    data = '{"PlatformOrderNo": "P-1", "State": 1, "X": ' + "[" * 1000 + "]" * 1000 + "}"
    assert len(data) < 6 * 1024

    response = _post(receiver, callback_form(data=data))

    assert response.status_code == 400
    assert "Data nests objects or lists more than 8 levels deep" in response.json()["description"]
    assert spool_files(spool_dir) == []
    assert _post(receiver, callback_form()).status_code == 200


# -- 11. replay window and one spool file per distinct callback ------------------------------


@pytest.mark.parametrize(
    "stamp",
    ["19000101000000", "99991231235959", _stamp(-timedelta(minutes=11)), "00010101000000"],
)
def test_a_timestamp_outside_the_window_is_refused_and_stores_nothing(
    stamp: str, receiver: CallbackReceiver, spool_dir: Path
) -> None:
    response = _post(receiver, callback_form(timestamp=stamp))

    assert response.status_code == 400
    description = response.json()["description"]
    assert "TimeStamp" in description and "refused as replays" in description
    assert spool_files(spool_dir) == []


def test_a_timestamp_inside_the_window_either_side_is_accepted(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    for offset in (-timedelta(minutes=9), timedelta(minutes=9)):
        assert _post(receiver, callback_form(timestamp=_stamp(offset))).status_code == 200
    assert len(_pending(spool_dir)) == 2


def test_the_timestamp_is_read_as_beijing_time(receiver: CallbackReceiver) -> None:
    """Now written as UTC digits is 8 hours behind Beijing: far outside the window."""
    utc_digits = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    response = _post(receiver, callback_form(timestamp=utc_digits))
    assert response.status_code == 400
    assert "behind our clock" in response.json()["description"]


def test_the_window_is_configurable(spool_dir: Path) -> None:
    with CallbackReceiver(spool_dir, AccountKey(APP_KEY, SECRET), replay_window_s=60) as narrow:
        assert _post(narrow, callback_form(timestamp=_stamp(-timedelta(minutes=2)))).status_code
        assert (
            _post(narrow, callback_form(timestamp=_stamp(-timedelta(minutes=2)))).status_code == 400
        )
        assert _post(narrow, callback_form(timestamp=_stamp(-timedelta(seconds=30)))).ok


def test_a_callback_replayed_100_times_is_spooled_once_and_every_replay_succeeds(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    form = callback_form("P-REPLAY")
    with requests.Session() as session, ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(
            pool.map(lambda _: session.post(receiver.url, data=form, timeout=10), range(100))
        )

    assert [r.status_code for r in responses] == [200] * 100
    assert all(r.json()["success"] is True for r in responses)
    assert all(r.json()["data"]["platformOrderNo"] == "P-REPLAY" for r in responses)
    [spooled] = _pending(spool_dir)
    assert json.loads(spooled.read_text(encoding="utf-8"))["platform_order_no"] == "P-REPLAY"


def test_a_replay_with_the_signature_in_lower_case_is_the_same_callback(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    form = callback_form("P-CASE")
    assert _post(receiver, form).status_code == 200
    assert _post(receiver, {**form, "Sign": form["Sign"].lower()}).status_code == 200
    assert len(_pending(spool_dir)) == 1


def test_distinct_callbacks_for_one_order_are_each_spooled(
    receiver: CallbackReceiver, spool_dir: Path
) -> None:
    first = callback_form("P-2", timestamp=_stamp(-timedelta(seconds=5)))
    later = callback_form("P-2", timestamp=_stamp(timedelta(seconds=0)))
    oostock = callback_form("P-2", method="hmm.scm_heorder.oostock", timestamp=first["TimeStamp"])
    for form in (first, later, oostock, first):
        assert _post(receiver, form).status_code == 200
    assert len(_pending(spool_dir)) == 3


def test_replay_markers_older_than_the_window_are_forgotten(spool_dir: Path) -> None:
    spool.ensure_layout(spool_dir)
    old = callback_form("P-OLD", timestamp="20250101000000")
    new = callback_form("P-NEW")
    for form in (old, new):
        (spool_dir / "seen" / spool.replay_key(form)).touch()

    removed = spool.forget_seen_before(spool_dir, datetime.now(UTC) - timedelta(minutes=20))

    assert removed == 1
    assert [p.name for p in (spool_dir / "seen").iterdir()] == [spool.replay_key(new)]


@pytest.fixture
def env_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("HAIER_CALLBACK_REPLAY_WINDOW_S", raising=False)
    yield monkeypatch


def test_the_replay_window_defaults_to_ten_minutes(env_window: pytest.MonkeyPatch) -> None:
    window = HAIER_CALLBACK_REPLAY_WINDOW_S
    assert window.value(window.text()) == 600.0
    env_window.setenv("HAIER_CALLBACK_REPLAY_WINDOW_S", "120")
    assert window.value(window.text()) == 120.0


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5", "ten"])
def test_a_bad_replay_window_stops_the_receiver_with_one_line_naming_it(
    value: str, env_window: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_window.setenv("HAIER_CALLBACK_APP_KEY", APP_KEY)
    env_window.setenv("HAIER_CALLBACK_SECRET", SECRET)
    env_window.setenv("HAIER_CALLBACK_REPLAY_WINDOW_S", value)

    assert main(["--port", "0", "--spool", str(tmp_path / "spool")]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: environment variable HAIER_CALLBACK_REPLAY_WINDOW_S=")
