"""Keep secrets and tokens out of every log line and error message.

Secrets are registered process-wide (one registry) because a log record can be emitted by any
module and any thread, long after the client that knows the secret was built. A logger's
filter only sees records logged *on that logger* (not those propagated from children), so
every module in ``haier_pipeline`` should take its logger from :func:`get_logger`, which
attaches the shared :class:`MaskingFilter`; the filter can also be added to handlers.

A secret travels in more than one spelling: form-encoded in the YLH token request
(``Hq7%40Lm2%2BZp9``), percent-encoded in a URL, JSON-escaped in every JSH body
(``Xk9\\"mQ2``), base64 in an HTTP Basic header. A gateway or proxy that echoes a request
into its error page hands any of them back, so each secret is registered in all of them.

The one discipline, wherever a text may reach a message, the event log, a compute log,
stdout or DuckDB: it is built from values that are not secret, or it passes through
:func:`mask`; an exception raised to Dagster carries no chained exception of another
library (Dagster stores the whole chain with the failure), so the clients raise their own,
masked, error ``from None``; a setting that fails validation is named, never echoed whole
(``environment.Variable.shown``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_CHARS = 4
"""The shortest secret the pipeline accepts (``environment`` refuses shorter ones at start).

A secret of one to three characters occurs by chance inside ordinary words and numbers, so
masking it everywhere turns every message into ``***till failed after 4 attem***t``, and
masking it only as a whole word still leaks it by context (``password=***`` hides nothing
that ``p`` did not). Refusing it at start, in one line naming the variable, is the only
answer that keeps both the secret and the messages; no credential Haier issues is that
short. Query values of a URL setting shorter than this (``?page=1``) are not taken for
secrets either."""

# Authorization header values that may show up in exception texts, whatever the secret.
_HEADER_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
# A URL's user-info (``https://user:password@host``) and its query string (``?key=value``,
# also in the bare ``url: /path?...`` that urllib3 puts in its errors): either may carry a
# credential someone pasted into a URL setting, so neither ever reaches a message.
_URL_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_URL_QUERY = re.compile(r"(?<=[\w/.-])\?[^\s'\"<>()]+")


class SecretRegistry:
    """Thread-safe set of secret values, replaced by ``***`` wherever they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._ordered: tuple[str, ...] = ()

    def register(self, *values: str | None) -> None:
        new = {form for value in values if value for form in spellings(value)}
        with self._lock:
            if new <= self._secrets:
                return
            self._secrets = self._secrets | new
            # Longest first, so a secret that contains another is masked whole.
            self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))

    def mask(self, text: str) -> str:
        masked = _HEADER_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        masked = _URL_USER_INFO.sub(lambda m: f"{m.group(1)}{MASK}@", masked)
        masked = _URL_QUERY.sub(f"?{MASK}", masked)
        for secret in self._ordered:
            masked = masked.replace(secret, MASK)
        return masked


SECRETS = SecretRegistry()


def spellings(secret: str) -> set[str]:
    """The secret as written, and as every encoding the pipeline or an echo may give it:
    form-encoded, percent-encoded, JSON-escaped (with and without ``\\u`` escapes), and
    base64 (standard and URL-safe, with and without the padding)."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),  # as requests and urllib3 quote a URL: "/" left as is
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        padded = encode(raw).decode("ascii")
        forms |= {padded, padded.rstrip("=")}
    return {form for form in forms if form}


def register_secrets(values: Iterable[str | None]) -> None:
    """Register secrets (settings.secrets(), every token obtained) for masking, each in
    every spelling of :func:`spellings`."""
    SECRETS.register(*values)


def mask(text: str) -> str:
    """``text`` with every registered secret, bearer/basic credential, URL user-info and URL
    query string masked."""
    return SECRETS.mask(text)


def url_secrets(url: str | None) -> list[str]:
    """The values a URL may carry as credentials: its password and its query parameters."""
    if not url:
        return []
    parts = urllib.parse.urlsplit(url)
    values = [parts.password or ""]
    values += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return [value for value in values if len(value) >= MIN_SECRET_CHARS]


class MaskingFilter(logging.Filter):
    """Rewrites each record's message, exception and stack text with secrets masked.

    The record is rendered here (``getMessage()``) so secrets passed as ``%s`` arguments are
    masked too; formatters downstream then reuse the masked ``exc_text``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the shared masking filter attached (idempotent)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
