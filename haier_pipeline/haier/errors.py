"""Exceptions raised by the Haier clients.

Callers (Dagster assets, the order pusher) decide what to do from the exception type alone:
a business failure is Haier saying no and must not be retried, a transient error means the
retry budget is spent and the run may try again later, an auth error needs an operator to fix
credentials. Every message names the endpoint and says what to do; none carries a secret or a
token (response excerpts are masked before they are stored here).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from haier_pipeline.haier.masking import mask

_HTTP_HINTS = MappingProxyType(
    {
        400: "check the request parameters (codes, county code, at most 20 product codes)",
        403: "the gateway refused this client; check Haier's IP allow-list for this host",
        404: "the path is unknown; check the base URL and the service path prefixes",
        429: "rate limited; retried, and if it persists lower HAIER_RATE_LIMIT",
        500: "Haier's side failed; retried as transient",
        502: "Haier's gateway failed; retried as transient",
        503: "Haier is temporarily unavailable; retried as transient",
        504: "Haier's gateway timed out; retried as transient",
    }
)


class HaierError(Exception):
    """Base of every error the Haier clients raise, so callers can catch the family."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        # Masked here, once for the family: a cause's text (urllib3 quotes the URL it tried,
        # query string included) may carry a credential from a URL setting.
        super().__init__(mask(message))
        self.endpoint = endpoint


class HaierBusinessError(HaierError):
    """Haier answered ``success: false``: the request was understood and refused.

    ``data`` keeps the payload that came with the refusal because some refusals carry
    facts the caller needs (SO_ID_DUPLICATE carries the original retailOrderNo).
    """

    def __init__(self, code: str, message: str, endpoint: str, data: Any = None) -> None:
        super().__init__(
            f"Haier refused the call to {endpoint}: code {code!r}, message {message!r}. "
            "This is a business answer, not retried; fix the request or the account setup.",
            endpoint=endpoint,
        )
        self.code = code
        self.message = message
        self.data = data


class HaierHttpError(HaierError):
    """An HTTP status that retrying cannot fix (400, 403, 404 and other non-transient codes)."""

    def __init__(self, status: int, endpoint: str, excerpt: str) -> None:
        hint = _HTTP_HINTS.get(status, "see the response excerpt; retrying will not help")
        super().__init__(
            f"Haier answered HTTP {status} for {endpoint}: {hint}. Response began: {excerpt!r}",
            endpoint=endpoint,
        )
        self.status = status
        self.excerpt = excerpt


class HaierTransientError(HaierError):
    """A transient failure (429, 5xx, timeout, dropped connection) outlasted every retry."""

    def __init__(self, endpoint: str, attempts: int, last_cause: BaseException) -> None:
        super().__init__(
            f"{endpoint} still failed after {attempts} attempts; last cause: {last_cause}. "
            "Haier or the network is struggling; run again later or lower HAIER_RATE_LIMIT.",
            endpoint=endpoint,
        )
        self.attempts = attempts
        self.last_cause = last_cause


class HaierAuthError(HaierError):
    """The token endpoint refused our credentials, or a fresh token was refused too."""

    def __init__(self, endpoint: str, detail: str, credentials_hint: str) -> None:
        super().__init__(
            f"Authentication failed at {endpoint}: {detail}. Check {credentials_hint}.",
            endpoint=endpoint,
        )


class HaierProtocolError(HaierError):
    """The answer was not JSON (an HTML page) or JSON of a shape the contract does not allow."""

    def __init__(self, endpoint: str, detail: str, excerpt: str = "") -> None:
        tail = f" Response began: {excerpt!r}" if excerpt else ""
        super().__init__(
            f"Unexpected answer from {endpoint}: {detail}. Check that the base URL points at "
            f"the Haier gateway and that the gateway follows haier-api.md.{tail}",
            endpoint=endpoint,
        )
        self.detail = detail
        self.excerpt = excerpt
