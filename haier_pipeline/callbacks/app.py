"""The callback receiver as a WSGI application: HTTP in, one decision out, JSON back.

The server in front (waitress, see :mod:`haier_pipeline.callbacks.receiver`) has read the whole
request before this runs, and has already refused a body over its limit; here only the path,
the method and the body are judged, and the body goes to ``decide`` (the receiver's
``answer``), which spools before it says success.

- ``POST /``: a callback (a query string is ignored).
- ``GET /healthz``: for probes; 200 while the spool folder is writable, else 503, so that an
  orchestrator stops routing callbacks to a receiver that could not store them.
- Any other path: 404; another method on ``/``: 405. Nothing is stored for either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.model import format_timestamp
from haier_pipeline.haier.masking import get_logger

LOG = get_logger("haier_pipeline.callbacks")

CALLBACK_PATH = "/"
"""The one path callbacks are served on (a query string is ignored); register
``http(s)://<host>:<port>/`` with Haier."""
HEALTH_PATH = "/healthz"
"""Liveness and readiness probes: ``GET /healthz``."""

Answer = tuple[int, dict[str, Any]]
Decide = Callable[[bytes, datetime, str], Answer]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def refuse(status: int, code: str, reason: str, client: str) -> Answer:
    """A refusal in Haier's answer shape, logged with the client's address (never a body)."""
    LOG.warning("callback refused from %s (HTTP %s): %s", client, status, reason)
    return status, {
        "success": False,
        "code": code,
        "description": reason,
        "timeStamp": format_timestamp(datetime.now(UTC)),
    }


class CallbackApp:
    """The WSGI callable: routes a request to ``decide`` or the health check."""

    def __init__(self, decide: Decide, spool_dir: Path) -> None:
        self._decide = decide
        self._spool_dir = spool_dir

    def __call__(
        self, environ: Mapping[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        client = str(environ.get("REMOTE_ADDR", "?"))
        try:
            status, answer = self._route(environ, client)
        except Exception:  # a bug must still answer, so that Haier resends rather than hangs
            LOG.exception("callback from %s could not be handled", client)
            status, answer = refuse(500, "internal_error", "internal error; resend", client)
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        start_response(
            f"{status} {REASONS.get(status, 'Error')}",
            [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(payload))),
            ],
        )
        return [payload]

    def _route(self, environ: Mapping[str, Any], client: str) -> Answer:
        received_at = datetime.now(UTC)
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", ""))
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return self._health()
        if path != CALLBACK_PATH:
            reason = f"no callback endpoint at {path[:100]!r}; callbacks go to {CALLBACK_PATH}"
            return refuse(404, "not_found", reason, client)
        if method != "POST":
            return refuse(
                405, "bad_request", f"{method[:10]} is not served; POST callbacks", client
            )
        length = _content_length(environ)
        if length is None:
            return refuse(411, "bad_request", "Content-Length is required", client)
        body = environ["wsgi.input"].read(length)
        if len(body) < length:
            return refuse(400, "bad_request", "body is shorter than its Content-Length", client)
        return self._decide(body, received_at, client)

    def _health(self) -> Answer:
        folders = (self._spool_dir / spool.TMP, self._spool_dir / spool.PENDING)
        if all(f.is_dir() and os.access(f, os.W_OK | os.X_OK) for f in folders):
            return 200, {"status": "ok", "spool": "writable"}
        return 503, {"status": "unavailable", "spool": "not writable; callbacks would fail"}


def _content_length(environ: Mapping[str, Any]) -> int | None:
    """The declared length; None when absent or not a number (a chunked body, say)."""
    try:
        length = int(str(environ.get("CONTENT_LENGTH", "")))
    except ValueError:
        return None
    return length if length >= 0 else None
