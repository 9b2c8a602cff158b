"""Loopback stand-ins for each alert target, checking requests as the vendors document them.

Each target verifies what its vendor verifies (the signature by the documented algorithm,
written here independently of ``haier_pipeline.alerts.formats``; the timestamp within an hour;
WeCom's key), answers as the vendor answers (errcode/code 0, Slack's ``ok``), and records every
request it took, raw, so that tests can look for secrets in them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECRET = "SEC7f3a9d-robot-secret-4411"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "dingtalk-access-token-5c1e"
SLACK_PATH = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
ONE_HOUR_S = 3600


@dataclass
class Received:
    """One request as it arrived: path with query, raw body, parsed JSON."""

    path: str
    raw: bytes
    body: Any


@dataclass
class Target:
    """A loopback target of one kind; ``url`` is what HAIER_ALERT_WEBHOOK_URL would hold."""

    kind: str
    signed: bool = True
    refuse: bool = False
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = target.judge(self.path, raw)
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = (
            base
            + {
                "wecom": f"/cgi-bin/webhook/send?key={WECOM_KEY}",
                "dingtalk": f"/robot/send?access_token={DINGTALK_TOKEN}",
                "feishu": "/open-apis/bot/v2/hook/5e3d587e-d78e-4a07-bd07-265f269f86fd",
                "slack": SLACK_PATH,
                "webhook": "/alerts",
            }[self.kind]
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def judge(self, path: str, raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw)
        self.received.append(Received(path, raw, body))
        if self.refuse:
            return 500, b"down for maintenance"
        problem = getattr(self, f"_check_{self.kind}")(path, body)
        if problem:
            self.problems.append(problem)
        return 200, self._answer(problem)

    def _answer(self, problem: str | None) -> Any:
        if self.kind in ("wecom", "dingtalk"):
            return {"errcode": 310000 if problem else 0, "errmsg": problem or "ok"}
        if self.kind == "feishu":
            return {"code": 1 if problem else 0, "msg": problem or "success"}  # any non-zero code
        return b"invalid_payload" if problem else b"ok"

    def texts(self) -> list[str]:
        """The human text of each message taken, whatever the envelope."""
        return [_text_of(self.kind, r.body) for r in self.received]

    # -- each vendor's checks --------------------------------------------------------------

    def _check_wecom(self, path: str, body: Any) -> str | None:
        if parse_qs(urlsplit(path).query).get("key") != [WECOM_KEY]:
            return "invalid webhook url"
        if body.get("msgtype") != "markdown" or not body["markdown"].get("content"):
            return "msgtype markdown with markdown.content expected"
        return None

    def _check_dingtalk(self, path: str, body: Any) -> str | None:
        query = parse_qs(urlsplit(path).query)
        if query.get("access_token") != [DINGTALK_TOKEN]:
            return "token is not exist"
        if body.get("msgtype") != "text" or not body["text"].get("content"):
            return "msgtype text with text.content expected"
        if not self.signed:
            return None
        millis = query.get("timestamp", ["0"])[0]
        if abs(int(millis) / 1000 - time.time()) > ONE_HOUR_S:
            return "timestamp is more than an hour from now"
        to_sign = f"{millis}\n{SECRET}".encode()
        expected = base64.b64encode(hmac.new(SECRET.encode(), to_sign, hashlib.sha256).digest())
        return None if query.get("sign") == [expected.decode()] else "sign not match"

    def _check_feishu(self, path: str, body: Any) -> str | None:
        if body.get("msg_type") != "text" or not body["content"].get("text"):
            return "msg_type text with content.text expected"
        if not self.signed:
            return None
        seconds = body.get("timestamp", "0")
        if not isinstance(seconds, str) or abs(int(seconds) - time.time()) > ONE_HOUR_S:
            return "timestamp is not a string within one hour from current time"
        key = f"{seconds}\n{SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        return None if body.get("sign") == expected else "sign match fail"

    def _check_slack(self, path: str, body: Any) -> str | None:
        if path != SLACK_PATH or not isinstance(body.get("text"), str):
            return "text expected"
        return None

    def _check_webhook(self, path: str, body: Any) -> str | None:
        missing = {"kind", "job", "account", "run_id", "text"} - set(body)
        return f"missing {sorted(missing)}" if missing else None


def _text_of(kind: str, body: Any) -> str:
    return {
        "wecom": lambda: body["markdown"]["content"],
        "dingtalk": lambda: body["text"]["content"],
        "feishu": lambda: body["content"]["text"],
        "slack": lambda: body["text"],
        "webhook": lambda: f"{body['title']}\n{body['text']}",
    }[kind]()
