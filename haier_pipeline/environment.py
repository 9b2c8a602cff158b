"""Every environment variable the pipeline reads, declared once: name, default, meaning, check.

The Dagster resources (``haier_pipeline.dagster_defs.resources``) take their fields from these
declarations, and the callback receiver and the CLI read the same ones, so a variable's name,
default and validation live in exactly one place. Each :class:`Variable` turns the text of
the environment into a typed value, or raises :class:`SettingError` with one line naming the
variable and what to do. A secret's value never appears in an error.

No Dagster here: the receiver and the sandbox import this without paying for Dagster.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from haier_pipeline.haier.budget_store import default_budget_dir
from haier_pipeline.haier.validation import COUNTY_CODE, PRODUCT_CODE

T = TypeVar("T")

SANDBOX_URL = "http://127.0.0.1:8765"
MAX_RATE_LIMIT = 1000.0
"""Haier allows 100 calls/s per client_id; 10x that is room for a faster gateway, and a
typo such as 1e9 is refused instead of earning a storm of 429s."""
MIN_RATE_LIMIT = 1.0
"""Below one call a second, one caller's slot would hold every other process sharing the
client_id for seconds (at 0.001/s, 1,000 s), and a typo such as 1e-9 is refused."""
MAX_TIMEOUT_S = 600.0


class SettingError(ValueError):
    """A variable is missing or its value is unusable; the message is one line naming it."""


def sandbox_enabled() -> bool:
    """``HAIER_SANDBOX=1``: the Haier and YLH URLs default to the sandbox on 127.0.0.1."""
    return os.environ.get("HAIER_SANDBOX", "") == "1"


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable: its name, its default text, and how its text becomes a value.

    ``parse`` raises ``ValueError`` saying what is wrong with the text (without the variable's
    name, which :meth:`value` adds). ``default`` may be a function, for defaults that depend on
    other variables (the sandbox URLs).
    """

    name: str
    parse: Callable[[str], T]
    meaning: str
    default: str | Callable[[], str] = ""
    required: bool = False
    secret: bool = False

    def default_text(self) -> str:
        return self.default() if callable(self.default) else self.default

    def text(self) -> str:
        """The variable's text now: its value if set and not blank, else its default."""
        value = os.environ.get(self.name, "")
        return value if value.strip() else self.default_text()

    def missing(self, text: str) -> bool:
        return self.required and not text.strip()

    def value(self, text: str) -> T:
        """``text`` (the resolved value of this variable) as a typed value, or a SettingError."""
        if self.missing(text):
            raise SettingError(missing_message([self.name]))
        try:
            return self.parse(text)
        except ValueError as problem:
            shown = "(value hidden)" if self.secret else repr(text)
            raise SettingError(
                f"{self.name}={shown} {problem}; fix it (see the README's Configuration table) "
                "and launch the run again."
            ) from None


def missing_message(names: list[str]) -> str:
    """The one line for required variables left unset (or blank)."""
    return (
        f"missing required environment variable(s): {', '.join(names)}. "
        "Set them (see the README's Configuration table) and launch the run again."
    )


# -- parsers: each raises ValueError saying what is wrong ----------------------------------


def text(value: str) -> str:
    return value.strip()


def raw(value: str) -> str:
    """Passwords and secrets: taken exactly as set (a space may be part of a password)."""
    return value


def url(value: str) -> str:
    """An http(s) URL, or empty (unset)."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL with a host name")
    return value


def bounded_number(
    low: float, high: float, unit: str, *, low_allowed: bool = False
) -> Callable[[str], float]:
    """A finite number in (low, high] (or [low, high]): nan, inf and 1e9 are refused."""
    lowest = f"from {low:g}" if low_allowed else f"above {low:g}"

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        above = number >= low if low_allowed else number > low
        if not math.isfinite(number) or not above or number > high:
            raise ValueError(f"is not a number of {unit} {lowest} and at most {high:g}")
        return number

    return parse


def amount(value: str) -> Decimal:
    """An amount of money in yuan, exact (Decimal) and finite."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ValueError("is not an amount in yuan; set it to e.g. 50000.00")
    return number


def code_list(
    pattern: re.Pattern[str], what: str, *, non_empty: bool
) -> Callable[[str], list[str]]:
    """A comma-separated list of codes, each matching ``pattern``; duplicates dropped in order.

    With ``non_empty``, a list that is empty after trimming (``",,,"``) counts as missing.
    """

    def parse(value: str) -> list[str]:
        codes = [c.strip() for c in value.split(",") if c.strip()]
        if non_empty and not codes:
            raise ValueError("lists no code once commas and spaces are trimmed")
        bad = [c for c in codes if not pattern.fullmatch(c)]
        if bad:
            raise ValueError(f"holds {', '.join(repr(b) for b in bad[:5])}, not {what}")
        return list(dict.fromkeys(codes))

    return parse


# -- the variables ---------------------------------------------------------------------------


def _sandbox(path: str = "") -> Callable[[], str]:
    return lambda: f"{SANDBOX_URL}{path}" if sandbox_enabled() else ""


def _ylh_auth_default() -> str:
    base = os.environ.get("YLH_BASE_URL", "").strip() or _sandbox("/ylh")()
    return f"{base.rstrip('/')}/ylh-cloud-mgt-auth/oauth/token" if base else ""


HAIER_BASE_URL = Variable(
    "HAIER_BASE_URL", url, "the JSH open platform base URL", _sandbox(), required=True
)
HAIER_TOKEN_URL = Variable("HAIER_TOKEN_URL", url, "the JSH token endpoint")
HAIER_CLIENT_ID = Variable("HAIER_CLIENT_ID", text, "the OAuth2 client id", required=True)
HAIER_CLIENT_SECRET = Variable(
    "HAIER_CLIENT_SECRET", raw, "the OAuth2 client secret", required=True, secret=True
)
HAIER_CUSTOMER_CODE = Variable("HAIER_CUSTOMER_CODE", text, "the sold-to party code", required=True)
HAIER_SEND_TO_CODE = Variable("HAIER_SEND_TO_CODE", text, "the ship-to party code")
HAIER_SUPPLIER_CODE = Variable("HAIER_SUPPLIER_CODE", text, "the supplier code", "1001")
HAIER_PASSWORD = Variable(
    "HAIER_PASSWORD", raw, "the account password (passWord)", required=True, secret=True
)
HAIER_SELLER_PASSWORD = Variable(
    "HAIER_SELLER_PASSWORD", raw, "the sellerPassword for stock and logistics", secret=True
)
HAIER_CUSTOMER_PASSWORD = Variable(
    "HAIER_CUSTOMER_PASSWORD", raw, "the customerPassword for the balance", secret=True
)
HAIER_RATE_LIMIT = Variable(
    "HAIER_RATE_LIMIT",
    bounded_number(MIN_RATE_LIMIT, MAX_RATE_LIMIT, "calls per second", low_allowed=True),
    "calls per second, all endpoints together",
    "100",
)
HAIER_TIMEOUT_S = Variable(
    "HAIER_TIMEOUT_S",
    bounded_number(0, MAX_TIMEOUT_S, "seconds"),
    "seconds before a call counts as timed out",
    "30",
)
HAIER_COUNTY_CODES = Variable(
    "HAIER_COUNTY_CODES",
    code_list(COUNTY_CODE, "a 6-digit county code (GB/T 2260, e.g. 110101)", non_empty=True),
    "the comma-separated county codes to query stock for",
    required=True,
)
HAIER_PRODUCT_CODES = Variable(
    "HAIER_PRODUCT_CODES",
    code_list(PRODUCT_CODE, "a 9-character product code (e.g. GA0SZC00U)", non_empty=False),
    "the comma-separated product codes to sync (empty: every procurable product)",
)
YLH_BASE_URL = Variable(
    "YLH_BASE_URL", url, "the YLH order system base URL", _sandbox("/ylh"), required=True
)
YLH_AUTH_URL = Variable("YLH_AUTH_URL", url, "the YLH token URL", _ylh_auth_default, required=True)
YLH_CLIENT_ID = Variable("YLH_CLIENT_ID", text, "the YLH client id", required=True)
YLH_CLIENT_SECRET = Variable(
    "YLH_CLIENT_SECRET", raw, "the YLH client secret", required=True, secret=True
)
YLH_USERNAME = Variable("YLH_USERNAME", text, "the YLH user name", required=True)
YLH_PASSWORD = Variable("YLH_PASSWORD", raw, "the YLH password", required=True, secret=True)
HAIER_SOURCE_SYSTEM = Variable(
    "HAIER_SOURCE_SYSTEM", text, "sourceSystem on pushed orders", required=True
)
HAIER_SHOP_NAME = Variable("HAIER_SHOP_NAME", text, "shopName on pushed orders", required=True)
HAIER_DUCKDB_PATH = Variable(
    "HAIER_DUCKDB_PATH", text, "the DuckDB file analysts query", "data/haier.duckdb"
)
HAIER_ORDER_INBOX = Variable(
    "HAIER_ORDER_INBOX",
    text,
    "the folder where paid orders arrive as JSON files",
    "data/orders/inbox",
)
HAIER_CALLBACK_SPOOL = Variable(
    "HAIER_CALLBACK_SPOOL", text, "the folder where verified callbacks wait", "data/callbacks"
)
# How long an order file must have stayed unchanged before it is judged. A shop that writes in
# two steps leaves a half file for however long its pause lasts; judged then, the order would
# be rejected as broken JSON and the rest written into the archived file. 10 s is five times
# the 2 s mtime resolution of FAT and SMB shares and covers a writer's pause between steps,
# and it is short next to the sensor's 30 s interval, so an order waits seconds, not runs.
# Shops that write to a temporary name and rename never wait: the file is whole at once.
HAIER_ORDER_SETTLE_S = Variable(
    "HAIER_ORDER_SETTLE_S",
    bounded_number(0, 3600, "seconds", low_allowed=True),
    "how long an order file must stay unchanged (size and mtime) before it is read",
    "10",
)
HAIER_CALLBACK_APP_KEY = Variable(
    "HAIER_CALLBACK_APP_KEY", text, "the AppKey Haier sends in callbacks", required=True
)
HAIER_CALLBACK_SECRET = Variable(
    "HAIER_CALLBACK_SECRET",
    raw,
    "the callback signing secret agreed with Haier",
    required=True,
    secret=True,
)
HAIER_CALLBACK_REPLAY_WINDOW_S = Variable(
    "HAIER_CALLBACK_REPLAY_WINDOW_S",
    bounded_number(0, 7 * 24 * 3600, "seconds"),
    "how far a callback's TimeStamp may be from now",
    "600",
)
HAIER_BUDGET_DIR = Variable(
    "HAIER_BUDGET_DIR",
    text,
    "the folder of the machine-wide call budget files, one per client_id; every process "
    "calling Haier on this machine must see the same one, and it must belong to that user",
    lambda: str(default_budget_dir()),
)
HAIER_BALANCE_MIN = Variable(
    "HAIER_BALANCE_MIN", amount, "the balance below which the balance check warns", "0"
)
HAIER_ACCOUNTS_FILE = Variable(
    "HAIER_ACCOUNTS_FILE",
    text,
    "the TOML file listing several Haier accounts (unset: one account, default, from HAIER_*)",
)
