"""Sending callbacks: the right form fields, and a signature that follows haier-api.md section 4."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl

import pytest

from haier_pipeline.sandbox.callback_sender import callback_fields


def reference_sign(fields: dict[str, str], secret: str) -> str:
    """Section 4, written out independently of the pipeline's signer."""
    kept = sorted((k, v) for k, v in fields.items() if k != "Sign" and v.strip())
    text = secret + "".join(k + v for k, v in kept) + secret
    return hashlib.md5(text.lower().encode("utf-8")).hexdigest().upper()


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: ClassVar[list[tuple[str, list[tuple[str, str]]]]]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["Content-Type"], parse_qsl(raw.decode("utf-8"))))
        body = json.dumps({"success": True, "code": "success"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet test server."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list]]:
    received: list = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/haier/callback", received
    server.shutdown()
    server.server_close()


def test_unsigned_callback_posts_the_form_fields(sandbox, receiver) -> None:
    url, received = receiver
    answer = sandbox.send_callback(
        url, "hmm.scm_heorder.confirm", "ONLINE-1", 0, fail_msg="库存不足", sign="missing"
    )
    assert answer.status_code == 200
    [(content_type, fields)] = received
    assert content_type == "application/x-www-form-urlencoded"
    form = dict(fields)
    assert [k for k, _ in fields] == ["AppKey", "TimeStamp", "Method", "Data"]
    assert form["AppKey"] == sandbox.account.callback_app_key
    assert form["Method"] == "hmm.scm_heorder.confirm"
    assert re.fullmatch(r"20\d{12}", form["TimeStamp"])
    assert json.loads(form["Data"]) == {
        "PlatformOrderNo": "ONLINE-1",
        "State": 0,
        "FailMsg": "库存不足",
    }


def test_signed_callbacks_carry_a_good_or_a_bad_signature(sandbox, receiver) -> None:
    pytest.importorskip("haier_pipeline.callbacks.signing")
    url, received = receiver
    secret = sandbox.account.callback_secret
    sandbox.send_callback(url, "hmm.scm_heorder.confirm", "ON-2", 1, ext_order_no="SO.1.000001")
    sandbox.send_callback(url, "hmm.scm_heorder.cancel", "ON-3", 1, sign="bad")
    good, bad = (dict(fields) for _, fields in received)
    assert json.loads(good["Data"])["ExtOrderNo"] == "SO.1.000001"
    assert good["Sign"] == reference_sign(good, secret)
    assert re.fullmatch(r"[0-9A-F]{32}", bad["Sign"])
    assert bad["Sign"] != reference_sign(bad, secret)


def test_explicit_key_secret_and_timestamp(sandbox, receiver) -> None:
    pytest.importorskip("haier_pipeline.callbacks.signing")
    url, received = receiver
    sandbox.send_callback(
        url,
        "hmm.scm_heorder.oostock",
        "ON-4",
        0,
        app_key="K",
        secret="S",
        timestamp="20250101120000",
    )
    form = dict(received[0][1])
    assert form["AppKey"] == "K" and form["TimeStamp"] == "20250101120000"
    assert form["Sign"] == reference_sign(form, "S")


def test_callback_fields_refuse_what_haier_never_sends() -> None:
    with pytest.raises(ValueError, match="State"):
        callback_fields("hmm.scm_heorder.confirm", "ON", 2, app_key="K")
    with pytest.raises(ValueError, match="100"):
        callback_fields("hmm.scm_heorder.confirm", "ON", 0, app_key="K", fail_msg="x" * 101)


def test_unknown_sign_mode_is_refused(sandbox) -> None:
    with pytest.raises(ValueError, match="sign must be"):
        sandbox.send_callback("http://127.0.0.1:9/", "m", "ON", 1, sign="maybe")
