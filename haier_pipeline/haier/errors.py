"""Exceptions raised by the Haier clients.

Callers (Dagster assets, the order pusher) decide what to do from the exception type alone:
a business failure is Haier saying no and must not be retried, a transient error means the
retry budget is spent and the run may try again later, an auth error needs an operator to fix
credentials. Every message names the endpoint and says what to do; none carries a secret or a
token (response excerpts are masked before they are stored here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from haier_pipeline.haier import endpoints
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


class HaierUnreachableError(HaierTransientError):
    """No connection to the gateway's host could be made at all (refused, unknown host name,
    no route), on every attempt: no answer came, so the fix is the URL setting or the gateway
    itself, never the rate limit."""

    def __init__(
        self,
        endpoint: str,
        attempts: int,
        last_cause: BaseException,
        *,
        address: str,
        reason: str,
        url_hint: str,
    ) -> None:
        HaierError.__init__(
            self,
            f"cannot connect to {address} ({reason}); check {url_hint}, or whether the "
            "gateway is up.",
            endpoint=endpoint,
        )
        self.attempts = attempts
        self.last_cause = last_cause
        self.address = address
        self.reason = reason


class HaierAuthError(HaierError):
    """The token endpoint refused our credentials, or a fresh token was refused too."""

    def __init__(self, endpoint: str, detail: str, credentials_hint: str) -> None:
        super().__init__(
            f"Authentication failed at {endpoint}: {detail}. Check {credentials_hint}.",
            endpoint=endpoint,
        )
        self.detail = detail
        self.variables = tuple(_VARIABLE_NAME.findall(credentials_hint))


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


# -- what a user must change when Haier refuses ------------------------------------------------

_VARIABLE_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")


@dataclass(frozen=True)
class Remedy:
    """The setting a user must change for a refused call to succeed, and how.

    Only refusals that repeat until a person acts have one (a wrong password, an unknown
    customer code, a refused token, an IP not on the allow-list); a timeout or a 5xx has none.
    ``variable`` is the HAIER_* name; ``setting`` the account's key (``JshSettings`` field)
    when the remedy is one setting, so a message about an account from the accounts file can
    name the variable that account reads instead.
    """

    variable: str
    action: str
    setting: str = ""

    def text(self, variable: str = "") -> str:
        return f"fix {variable or self.variable}: {self.action}"


def _password(setting: str, variable: str, field: str) -> Remedy:
    return Remedy(variable, f"set it to the {field} Haier issued for this account", setting)


_CUSTOMER = Remedy(
    "HAIER_CUSTOMER_CODE",
    "set it to the sold-to party code (售达方) Haier issued",
    "customer_code",
)
_SEND_TO = Remedy(
    "HAIER_SEND_TO_CODE",
    "set it to the ship-to party code (送达方), or unset it to use the customer code",
    "send_to_code",
)
_SUPPLIER = Remedy(
    "HAIER_SUPPLIER_CODE",
    "set it to the supplier code (1001 for Haier Smart Home)",
    "supplier_code",
)
_CATALOG_PASSWORD = _password("password", "HAIER_PASSWORD", "account password (passWord)")
_SELLER_PASSWORD = _password(
    "seller_password", "HAIER_SELLER_PASSWORD", "seller password (sellerPassword)"
)

# Which setting each refusal code points at, per endpoint: the same PASSWORD_WRONG means the
# account password on products and prices, the seller password on stock and logistics, the
# customer password on the balance (haier-api.md 2.1-2.5).
REFUSALS: MappingProxyType[str, MappingProxyType[str, Remedy]] = MappingProxyType(
    {
        endpoints.JSH_PRODUCTS: MappingProxyType(
            {
                "PASSWORD_WRONG": _CATALOG_PASSWORD,
                "CUSTOMER_NOT_FOUND": _CUSTOMER,
                "SEND_TO_NOT_FOUND": _SEND_TO,
                "SUPPLIER_NOT_FOUND": _SUPPLIER,
            }
        ),
        endpoints.JSH_PRICES: MappingProxyType(
            {
                "PASSWORD_WRONG": _CATALOG_PASSWORD,
                "CUSTOMER_NOT_FOUND": _CUSTOMER,
                "SEND_TO_NOT_FOUND": _SEND_TO,
            }
        ),
        endpoints.JSH_STOCK: MappingProxyType(
            {
                "PASSWORD_WRONG": _SELLER_PASSWORD,
                "CUSTOMER_NOT_FOUND": _CUSTOMER,
                "SEND_TO_NOT_FOUND": _SEND_TO,
            }
        ),
        endpoints.JSH_LOGISTICS: MappingProxyType(
            {"PASSWORD_WRONG": _SELLER_PASSWORD, "SELLER_NOT_FOUND": _CUSTOMER}
        ),
        endpoints.JSH_BALANCE: MappingProxyType(
            {
                "PASSWORD_WRONG": _password(
                    "customer_password",
                    "HAIER_CUSTOMER_PASSWORD",
                    "customer password (customerPassword)",
                ),
                "CUSTOMER_NOT_FOUND": _CUSTOMER,
            }
        ),
    }
)


def remedy(error: BaseException) -> Remedy | None:
    """What the user must fix for ``error`` to go away, or None when waiting may be enough."""
    if isinstance(error, HaierAuthError):
        *first, last = error.variables or ("the credentials",)
        names = f"{', '.join(first)} and {last}" if first else last
        return Remedy(names, "Haier refused them; copy them again from Haier's developer console")
    if isinstance(error, HaierBusinessError):
        for path, codes in REFUSALS.items():
            # The endpoint is the URL's path, which keeps any prefix of the base URL.
            if error.endpoint.endswith(path) and error.code in codes:
                return codes[error.code]
        return None
    if isinstance(error, HaierHttpError) and error.status == 403:
        return Remedy("this host's IP address", "ask Haier to add it to the gateway's allow-list")
    if isinstance(error, HaierHttpError) and error.status == 404:
        jsh = any(error.endpoint.endswith(path) for path in REFUSALS)
        variable = "HAIER_BASE_URL" if jsh else "the base or token URL"
        return Remedy(variable, "Haier does not know this path; check the URL and its prefix")
    return None


def refused_settings(error: BaseException) -> tuple[str, ...]:
    """The account settings a business refusal of a JSH call can be about: the one its code
    names when the code is known, else every setting the endpoint sends (any code and message
    work, since Haier's are not published). Empty for other errors and other endpoints."""
    if not isinstance(error, HaierBusinessError):
        return ()
    for path, sent in endpoints.SENDS.items():
        if error.endpoint.endswith(path):
            known = REFUSALS[path].get(error.code) if path in REFUSALS else None
            return (known.setting,) if known is not None and known.setting else sent
    return ()


def refusal_key(error: BaseException) -> str:
    """Errors with the same key are the same refusal (same endpoint, same code and message,
    or same status)."""
    if isinstance(error, HaierBusinessError):
        return f"{error.endpoint} {error.code} {error.message}"
    if isinstance(error, HaierHttpError):
        return f"{error.endpoint} HTTP {error.status}"
    return f"{error.__class__.__name__} {getattr(error, 'endpoint', '')}"


def short_reason(error: BaseException) -> str:
    """Haier's own words for a refusal, short enough for a one-line message."""
    if isinstance(error, HaierBusinessError):
        return f"{error.code} {error.message}"
    if isinstance(error, HaierHttpError):
        return f"HTTP {error.status}"
    if isinstance(error, HaierUnreachableError):
        return f"cannot connect to {error.address} ({error.reason})"
    if isinstance(error, HaierAuthError):
        return error.detail
    return str(error)
