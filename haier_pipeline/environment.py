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
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from haier_pipeline.haier.budget_store import default_budget_dir
from haier_pipeline.haier.masking import MIN_SECRET_CHARS
from haier_pipeline.haier.validation import COUNTY_CODE, PRODUCT_CODE
from haier_pipeline.listing import clip, few

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
            raise SettingError(
                f"{self.name}={self.shown(text)} {problem}; fix it (see the README's "
                "Configuration table) and launch the run again."
            ) from None

    def shown(self, text: str) -> str:
        """The value as a message may show it: a secret's never, nor a URL's (its user-info
        or query string may hold a credential someone pasted in; the parser says what is
        wrong instead), any other cut short."""
        if self.secret:
            return "(value hidden)"
        if self.parse is url:
            return "(value not shown: a URL may carry a credential)"
        return clip(repr(text), 60)


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
    """Passwords and secrets: taken exactly as set (a space may be part of a password), and
    refused when shorter than masking.MIN_SECRET_CHARS (see there why)."""
    if value and len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"is shorter than {MIN_SECRET_CHARS} characters, too short to keep out of logs and "
            "messages (a credential that short is a typo or a placeholder)"
        )
    return value


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,9}")


def url(value: str) -> str:
    """An http(s) URL, or empty (unset). The problem names the scheme or the missing host,
    never the value (see Variable.shown)."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("is not a URL that can be read (an unclosed [ or a bad port)") from None
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme.lower()
        what = f"its scheme is {scheme!r}" if _SCHEME.fullmatch(scheme) else "it has no scheme"
        raise ValueError(f"is not an http:// or https:// URL with a host name ({what})")
    if not host:
        raise ValueError("is not an http:// or https:// URL with a host name (it has no host)")
    return value


def postgres_url(value: str) -> str:
    """A ``postgresql://user[:password]@host:port/db`` URL, or empty (unset)."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise ValueError("is not a postgresql://user@host:port/database URL")
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
            raise ValueError(f"holds {few(bad, quote=True)}, not {what}")
        return list(dict.fromkeys(codes))

    return parse


CHECKOUT_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding this package: a checkout's root when the project is installed editable."""

HAIER_DATA_DIR = Variable(
    "HAIER_DATA_DIR",
    text,
    "the absolute folder every relative path setting resolves against (unset: the checkout)",
)
"""Declared here, before the path variables below, because their parser reads it."""


def data_dir() -> Path:
    """The one base every relative path setting resolves against, whoever reads it.

    ``HAIER_DATA_DIR`` when set (it must be absolute); else the checkout's root, so that
    ``dagster dev`` from a clone keeps ``data/haier.duckdb`` where it always was. An installed
    package (an image, a wheel) has no checkout: there a relative path is refused, because the
    code server, its run workers, the sensors and the receiver need not share a working folder.
    """
    name, value = HAIER_DATA_DIR.name, HAIER_DATA_DIR.text().strip()
    if value:
        base = Path(value).expanduser()
        if not base.is_absolute():
            raise ValueError(
                f"is relative, and so is {name}={value!r}; set {name} to an absolute folder"
            )
        return base
    if (CHECKOUT_ROOT / "pyproject.toml").is_file():
        return CHECKOUT_ROOT
    raise ValueError(
        f"is relative and {name} is unset (relative paths resolve against it); "
        f"set {name} to an absolute folder, or give an absolute path"
    )


def data_path(value: str) -> Path:
    """A file or folder setting: absolute as given, relative resolved against :func:`data_dir`."""
    if not value.strip():
        raise ValueError("is empty; give a file or folder path")
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else data_dir() / path


def optional_data_path(value: str) -> Path | None:
    """:func:`data_path`, or None when the setting is left empty (the feature is off)."""
    return data_path(value) if value.strip() else None


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
    "HAIER_DUCKDB_PATH", data_path, "the DuckDB file analysts query", "data/haier.duckdb"
)
HAIER_ORDER_INBOX = Variable(
    "HAIER_ORDER_INBOX",
    data_path,
    "the folder where paid orders arrive as JSON files",
    "data/orders/inbox",
)
HAIER_CALLBACK_SPOOL = Variable(
    "HAIER_CALLBACK_SPOOL", data_path, "the folder where verified callbacks wait", "data/callbacks"
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
# How long an order file that does not parse must have stayed unchanged before it is set
# aside (moved to processed/rejected). Until then it is a file still being written: it stays
# in the inbox, listed as waiting in the run's metadata, and a later run judges it again. A
# shop system that writes half a file and stalls (a slow disk, a paused process, a network
# share) finishes it in place, and its order is pushed. Minutes, not seconds: no writer
# pauses that long, while a file broken for good is still reported within the hour.
HAIER_ORDER_SET_ASIDE_MIN = Variable(
    "HAIER_ORDER_SET_ASIDE_MIN",
    bounded_number(0, 7 * 24 * 60, "minutes", low_allowed=True),
    "how long an order file that is not whole JSON must stay unchanged before it is set aside",
    "30",
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
    data_path,
    "the folder of the machine-wide call budget files, one per client_id; every process "
    "calling Haier on this machine must see the same one, and it must belong to that user",
    lambda: str(default_budget_dir()),
)
HAIER_BALANCE_MIN = Variable(
    "HAIER_BALANCE_MIN", amount, "the balance below which the balance check warns", "0"
)
HAIER_ACCOUNTS_FILE = Variable(
    "HAIER_ACCOUNTS_FILE",
    optional_data_path,
    "the TOML file listing several Haier accounts (unset: one account, default, from HAIER_*)",
)


ALERT_KINDS = ("wecom", "dingtalk", "feishu", "slack", "webhook")
"""Where alerts go: WeCom, DingTalk or Feishu group robots, Slack, or a plain JSON POST."""


def alert_kind(value: str) -> str:
    """One of :data:`ALERT_KINDS`, case-insensitive."""
    kind = value.strip().lower()
    if kind not in ALERT_KINDS:
        raise ValueError(f"is not one of {', '.join(ALERT_KINDS)}")
    return kind


HAIER_ALERT_KIND = Variable(
    "HAIER_ALERT_KIND",
    alert_kind,
    "where alerts go: wecom, dingtalk, feishu, slack or webhook (a plain JSON POST)",
    "webhook",
)
HAIER_ALERT_WEBHOOK_URL = Variable(
    "HAIER_ALERT_WEBHOOK_URL",
    url,
    "the URL alerts are posted to (unset: no alerts); a secret, as WeCom's key sits in it",
    secret=True,
)
HAIER_ALERT_SECRET = Variable(
    "HAIER_ALERT_SECRET",
    raw,
    "the signing secret of a dingtalk or feishu robot (unset: alerts are sent unsigned)",
    secret=True,
)
HAIER_UI_URL = Variable(
    "HAIER_UI_URL", url, "the Dagster UI's address, for links to runs in alerts (unset: no links)"
)
HAIER_BUDGET_URL = Variable(
    "HAIER_BUDGET_URL",
    postgres_url,
    "the PostgreSQL database of the call budget every machine shares (unset: the files in "
    "HAIER_BUDGET_DIR, for one machine)",
    secret=True,
)
