"""Keep secrets and tokens out of every log line and error message.

Secrets are registered process-wide (one registry) because a log record can be emitted by any
module and any thread, long after the client that knows the secret was built. A logger's
filter only sees records logged *on that logger* (not those propagated from children), so
every module in ``haier_pipeline`` should take its logger from :func:`get_logger`, which
attaches the shared :class:`MaskingFilter`; the filter can also be added to handlers.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

MASK = "***"
MIN_URL_SECRET = 4
"""Shorter query values (``?page=1``) are too common in other text to mask everywhere."""

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
        new = {v for v in values if v}
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


def register_secrets(values: Iterable[str | None]) -> None:
    """Register secrets (settings.secrets(), every token obtained) for masking."""
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
    return [value for value in values if len(value) >= MIN_URL_SECRET]


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
