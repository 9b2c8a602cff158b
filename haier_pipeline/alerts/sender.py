"""Post alerts: rate-limited, each delivered once per process, never raising.

An alert must never hold up or fail what it reports on, so :meth:`AlertSender.send` catches
everything, logs one masked line and returns False; the sensors keep what was not delivered
and try again on their next tick. The webhook URL is a secret (WeCom's key and Slack's token
sit in it), so it, its path and its query values are registered for masking with the signing
secret before anything is sent or logged.

Rate limit: :data:`SHARED_LIMIT`, one token bucket per process, sized to the strictest
documented limit (WeCom and DingTalk robots: 20 messages a minute; past it they refuse, and
DingTalk mutes the robot for 10 minutes). A tick that finds many things to report groups them
(the sensors list a few and count the rest), so a storm costs a few messages, not hundreds.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import requests

from haier_pipeline import environment as env
from haier_pipeline.alerts.formats import build_request
from haier_pipeline.alerts.message import Alert
from haier_pipeline.haier.masking import get_logger, mask, register_secrets, url_secrets

LOG = get_logger("haier_pipeline.alerts")

TIMEOUT_S = (3.05, 5.0)
"""Connect and read timeouts: a dead target costs a sensor tick seconds, not minutes."""
REMEMBERED = 10_000
"""Keys of delivered alerts kept per process, to drop a repeat (a tick evaluated twice)."""


class RateLimiter:
    """A token bucket: ``burst`` messages at once, refilled at ``burst`` per ``period_s``."""

    def __init__(self, burst: int = 20, period_s: float = 60.0) -> None:
        self.burst = burst
        self.period_s = period_s
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One token if there is one now; never waits (an alert must not block a sensor)."""
        with self._lock:
            now = time.monotonic()
            refill = (now - self._at) * self.burst / self.period_s
            self._tokens = min(float(self.burst), self._tokens + refill)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


SHARED_LIMIT = RateLimiter()


class DeliveredKeys:
    """The keys of the last :data:`REMEMBERED` delivered alerts, process-wide."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, key: str) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > REMEMBERED:
                self._keys.popitem(last=False)


DELIVERED = DeliveredKeys()


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go: ``kind`` (see ``HAIER_ALERT_KIND``), the URL and the signing secret."""

    kind: str
    url: str = field(repr=False)
    secret: str = field(default="", repr=False)

    def secrets(self) -> list[str]:
        """Every form of the URL and secret that could reach a message."""
        path = urllib.parse.urlsplit(self.url).path
        return [self.url, self.secret, *url_secrets(self.url), *([path] if len(path) > 8 else [])]


def target_from_env(
    kind: str | None = None, url: str | None = None, secret: str | None = None
) -> AlertTarget | None:
    """The target the HAIER_ALERT_* variables name (or the texts given for them), or None when
    no webhook URL is set.

    Raises ``SettingError`` (one line, no value of a secret) for an unusable kind or URL.
    """
    checked_url = env.HAIER_ALERT_WEBHOOK_URL.value(_text(env.HAIER_ALERT_WEBHOOK_URL, url))
    if not checked_url:
        return None
    return AlertTarget(
        env.HAIER_ALERT_KIND.value(_text(env.HAIER_ALERT_KIND, kind)),
        checked_url,
        env.HAIER_ALERT_SECRET.value(_text(env.HAIER_ALERT_SECRET, secret)),
    )


def _text(variable: env.Variable[str], given: str | None) -> str:
    """The given text (a resource's resolved field), else the variable's, else its default."""
    return given if given and given.strip() else variable.text()


class AlertSender:
    """Delivers alerts to one target; :meth:`send` returns whether the target took it."""

    def __init__(
        self,
        target: AlertTarget,
        limiter: RateLimiter | None = None,
        delivered: DeliveredKeys | None = None,
    ) -> None:
        """By default the process-wide :data:`SHARED_LIMIT` and :data:`DELIVERED`: the sensors
        make a sender per tick, and the limit and the memory must outlive it."""
        register_secrets(target.secrets())
        self.target = target
        self._limiter = limiter or SHARED_LIMIT
        self._delivered = delivered or DELIVERED

    def send(self, alert: Alert) -> bool:
        """Deliver ``alert`` once; False (logged, never raised) when it was not delivered."""
        if alert.key in self._delivered:
            LOG.info("alert %s already delivered; not sent again", alert.key)
            return True
        if not self._limiter.take():
            LOG.warning(
                "alert %s not sent: more than %d alerts in %g s (the target's documented "
                "limit); it is tried again on a later tick",
                alert.key,
                self._limiter.burst,
                self._limiter.period_s,
            )
            return False
        try:
            self._post(alert)
        except Exception as error:  # an alert never fails what it reports on
            LOG.warning(
                "alert %s to %s target not delivered: %s", alert.key, self.target.kind, _why(error)
            )
            return False
        self._delivered.add(alert.key)
        LOG.info("alert %s delivered to %s target", alert.key, self.target.kind)
        return True

    def _post(self, alert: Alert) -> None:
        request = build_request(self.target.kind, self.target.url, alert, self.target.secret)
        response = requests.post(
            request.url,
            data=json.dumps(request.body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=TIMEOUT_S,
            allow_redirects=False,
        )
        if not 200 <= response.status_code < 300:
            raise AlertRefused(f"HTTP {response.status_code}: {response.text[:200]}")
        refusal = _vendor_refusal(response)
        if refusal:
            raise AlertRefused(refusal)


class AlertRefused(Exception):
    """The target answered, but did not take the alert."""


def _vendor_refusal(response: requests.Response) -> str | None:
    """WeCom and DingTalk answer HTTP 200 with ``errcode`` != 0 (a bad signature, the rate
    limit), Feishu with ``code`` != 0; Slack answers ``ok``; a plain webhook any 2xx."""
    try:
        answer: Any = response.json()
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    for field_name in ("errcode", "code", "StatusCode"):
        code = answer.get(field_name)
        if code not in (None, 0, "0"):
            message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage")
            return f"{field_name} {code}: {str(message)[:200]}"
    return None


def _why(error: Exception) -> str:
    """One masked line: the error's kind and its first line (requests puts URLs in it)."""
    first = (str(error).splitlines() or [""])[0][:300]
    return mask(f"{type(error).__name__}: {first}")
