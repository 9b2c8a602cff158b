"""Each target's request, as its vendor documents it (sources in docs/alerts.md).

- WeCom group robot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``; the robot's
  key is in the URL (``.../cgi-bin/webhook/send?key=K``), so the URL is a secret.
- DingTalk robot with signing: ``{"msgtype": "text", "text": {"content": ...}}`` posted to
  ``.../robot/send?access_token=T&timestamp=MS&sign=S``, where
  ``S = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{MS}\\n{secret}")))``.
- Feishu bot with signing: ``{"timestamp": "SEC", "sign": S, "msg_type": "text",
  "content": {"text": ...}}``, where ``S = base64(HMAC-SHA256(key=f"{SEC}\\n{secret}",
  msg=b""))``: the string to sign is the *key* and the message is empty.
- Slack incoming webhook: ``{"text": ...}``.
- webhook: the alert itself as a JSON object (``kind``, ``job``, ``account``, ``run_id``,
  ``text``, ...).

The secret itself is never part of a payload; only the signature derived from it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haier_pipeline.alerts.message import Alert


@dataclass(frozen=True)
class Request:
    """Where to POST, and the JSON body."""

    url: str
    body: dict[str, Any]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query value, URL-encoded (its docs: HmacSHA256, Base64, urlEncode)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign``: HMAC-SHA256 keyed by ``"{timestamp}\\n{secret}"`` over no data."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _wecom(url: str, alert: Alert, secret: str, now: float) -> Request:
    content = f"**{alert.title()}**\n{alert.body()}"
    return Request(url, {"msgtype": "markdown", "markdown": {"content": content}})


def _dingtalk(url: str, alert: Alert, secret: str, now: float) -> Request:
    body = {"msgtype": "text", "text": {"content": f"{alert.title()}\n{alert.body()}"}}
    if not secret:
        return Request(url, body)
    millis = int(now * 1000)
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return Request(f"{url}{joiner}timestamp={millis}&sign={dingtalk_sign(secret, millis)}", body)


def _feishu(url: str, alert: Alert, secret: str, now: float) -> Request:
    body: dict[str, Any] = {
        "msg_type": "text",
        "content": {"text": f"{alert.title()}\n{alert.body()}"},
    }
    if secret:
        seconds = int(now)
        body = {"timestamp": str(seconds), "sign": feishu_sign(secret, seconds), **body}
    return Request(url, body)


def _slack(url: str, alert: Alert, secret: str, now: float) -> Request:
    return Request(url, {"text": f"*{alert.title()}*\n{alert.body()}"})


def _webhook(url: str, alert: Alert, secret: str, now: float) -> Request:
    return Request(url, alert.as_json())


FORMATS: dict[str, Callable[[str, Alert, str, float], Request]] = {
    "wecom": _wecom,
    "dingtalk": _dingtalk,
    "feishu": _feishu,
    "slack": _slack,
    "webhook": _webhook,
}


def build_request(
    kind: str, url: str, alert: Alert, secret: str = "", now: float | None = None
) -> Request:
    """The request that delivers ``alert`` to a target of ``kind`` (see the module's list)."""
    return FORMATS[kind](url, alert, secret, time.time() if now is None else now)
