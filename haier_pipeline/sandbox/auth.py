"""The sandbox's account, its issued tokens and its per-client rate limit.

Passwords deliberately differ from each other (and the ship-to code from the sold-to code), so
a client that sends the account password where the seller password belongs, or the customer
code where the ship-to code belongs, is caught here instead of at Haier.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox import validate as v
from haier_pipeline.sandbox.wire import BadRequest, Unauthorized


@dataclass(frozen=True)
class SandboxAccount:
    """The one customer the sandbox knows (dummy, sandbox-only values)."""

    client_id: str = "sandbox-jsh-client"
    client_secret: str = field(default="sandbox-jsh-secret", repr=False)
    customer_code: str = "8800633175"
    send_to_code: str = "8800633176"
    supplier_code: str = "1001"
    password: str = field(default="sandbox-password", repr=False)
    seller_password: str = field(default="sandbox-seller-password", repr=False)
    customer_password: str = field(default="sandbox-customer-password", repr=False)
    customer_name: str = "青岛沙盒家电销售有限公司"
    ylh_client_id: str = "sandbox-ylh-client"
    ylh_client_secret: str = field(default="sandbox-ylh-secret", repr=False)
    ylh_username: str = "sandbox-ylh-user"
    ylh_password: str = field(default="sandbox-ylh-password", repr=False)
    source_system: str = "SANDBOX-SHOP"
    shop_name: str = "沙盒家电旗舰店"
    callback_app_key: str = "sandbox-callback-app-key"
    callback_secret: str = field(default="sandbox-callback-secret", repr=False)


@dataclass(frozen=True, slots=True)
class Token:
    client_id: str
    realm: str  # "jsh" or "ylh": a token only opens its own system's endpoints
    expires_at: float  # time.monotonic()


class TokenStore:
    """Issued bearer tokens; expiry is enforced, and a fault can revoke them all at once."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    @property
    def expires_in(self) -> int:
        """Whole seconds for the answer; never 0, which a client would read as 'expired'."""
        return max(1, math.ceil(self.ttl_s))

    def issue(self, client_id: str, realm: str) -> str:
        value = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[value] = Token(client_id, realm, time.monotonic() + self.ttl_s)
        return value

    def lookup(self, value: str) -> Token | None:
        """The live token, or None when unknown, revoked or expired."""
        token = self._tokens.get(value)
        if token is None or time.monotonic() >= token.expires_at:
            return None
        return token

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()


class RateLimiter:
    """A token bucket per client_id: capacity ``rate`` calls, refilled at ``rate`` per second.

    The capacity equals one second's worth, so a client pacing itself evenly at or below the
    limit never sees a 429, while a client that bursts past it does - like the real gateway.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate or 0.0
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.rate, now))
            tokens = min(self.rate, tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class TokenEndpoints:
    """The two token calls (haier-api.md 2.0 and 3.0); wrong credentials are HTTP 401."""

    def __init__(
        self, account: SandboxAccount, tokens: TokenStore, on_issue: Callable[[], None]
    ) -> None:
        self.account = account
        self.tokens = tokens
        self.on_issue = on_issue

    def jsh(self, raw: bytes) -> dict[str, Any]:
        """Client credentials in a JSON body."""
        record = "token request"
        body = v.json_object(raw, record)
        client_id = v.required_str(body, "client_id", record)
        secret = v.required_str(body, "client_secret", record)
        if v.required_str(body, "grant_type", record) != "client_credentials":
            raise BadRequest(f"{record}: grant_type must be client_credentials")
        if (client_id, secret) != (self.account.client_id, self.account.client_secret):
            raise Unauthorized("wrong client_id or client_secret")
        return self._issue(client_id, "jsh")

    def ylh(self, raw: bytes, system_name: str | None, basic: tuple[str, str]) -> dict[str, Any]:
        """Password grant: Basic client credentials, a system-name header, a form body."""
        record = "YLH token request"
        if system_name != p.YLH_SYSTEM_NAME:
            raise BadRequest(f"{record}: header system-name: {p.YLH_SYSTEM_NAME} is required")
        if basic != (self.account.ylh_client_id, self.account.ylh_client_secret):
            raise Unauthorized("Basic client_id:client_secret missing or wrong")
        form = {k: values[0] for k, values in parse_qs(raw.decode("utf-8")).items()}
        if v.required_str(form, "grant_type", record) != "password":
            raise BadRequest(f"{record}: grant_type must be password")
        username = v.required_str(form, "username", record)
        password = v.required_str(form, "password", record)
        if (username, password) != (self.account.ylh_username, self.account.ylh_password):
            raise Unauthorized("wrong username or password")
        return self._issue(basic[0], "ylh")

    def _issue(self, client_id: str, realm: str) -> dict[str, Any]:
        self.on_issue()
        return {
            "access_token": self.tokens.issue(client_id, realm),
            "token_type": "bearer",
            "expires_in": self.tokens.expires_in,
        }
