"""HTTP plumbing of the sandbox: the threaded server, reading requests, writing answers.

``http.server`` is tuned here for keep-alive clients: HTTP/1.1, Nagle off (without it each
keep-alive call stalls ~40 ms on a delayed ACK, see field-notes), and status line, headers and
body sent in a single write.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from haier_pipeline.sandbox.wire import ApiError, BadRequest, encode

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

Dispatch = Callable[[BaseHTTPRequestHandler, str], None]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


DROP = Answer(0, b"")  # close the connection without a word


def json_answer(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, encode(payload).encode("utf-8"), JSON_TYPE, headers)


def error_answer(error: ApiError) -> Answer:
    return json_answer(error.status, error.body())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections give their thread back after a minute
    server_version = "HaierSandbox/1.0"
    server: HttpServer

    def do_POST(self) -> None:
        self.server.dispatch(self, "POST")

    def do_GET(self) -> None:
        self.server.dispatch(self, "GET")

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per call would cost more than the call at benchmark rates."""


class HttpServer(ThreadingHTTPServer):
    """A thread per connection on 127.0.0.1 only; ``dispatch`` answers each request."""

    daemon_threads = True
    request_queue_size = 256  # 64+ concurrent keep-alive clients connect at once in benchmarks

    def __init__(self, port: int, dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so a stop is clean."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, drops) are normal here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        handler.close_connection = True
        raise BadRequest("chunked request bodies are not supported; send Content-Length")
    length = handler.headers.get("Content-Length")
    if not length:
        return b""
    if not length.isdigit():
        handler.close_connection = True
        raise BadRequest(f"Content-Length {length!r} is not a number")
    return handler.rfile.read(int(length))


def write_answer(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
    """Status line, headers and body in one write: two writes would wait on a delayed ACK."""
    lines = [
        f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}",
        f"Server: {handler.server_version}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
    ]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    if handler.close_connection:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    handler.wfile.write(head + answer.body)


def bearer_token(handler: BaseHTTPRequestHandler) -> str:
    """The token from "Bearer X" or a bare "X" (the public gateway example shows both)."""
    value = handler.headers.get("Authorization", "").strip()
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return value


def basic_auth(handler: BaseHTTPRequestHandler) -> tuple[str, str]:
    """(client_id, client_secret) from a Basic header, or empty strings when there is none."""
    value = handler.headers.get("Authorization", "")
    if value[:6].lower() != "basic ":
        return "", ""
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret
