"""A scripted HTTP server on 127.0.0.1 for the client's unit tests.

Each path answers from its own script (a list of answers; the last one repeats), so a test
states exactly what the gateway does call by call: 503 then 200, HTML, a dropped connection,
a stall longer than the client's timeout. Every request is recorded for assertions.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from haier_pipeline.haier.retry import RetryPolicy
from haier_pipeline.haier.settings import JshSettings, YlhSettings

TOKEN_PATH = "/oauth2/auth"
YLH_TOKEN_PATH = "/ylh/ylh-cloud-mgt-auth/oauth/token"
# Tests never wait for real backoff; RetryPolicy arithmetic has its own tests.
FAST_RETRY = RetryPolicy(base_delay_s=0.001, max_delay_s=0.002, max_retry_after_s=0.01)
SECRETS = ("s3cret-client-Secret", "pa55word-Account", "seller-Pa55", "ylh-Secret-9", "ylh-Pwd-7")


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False  # close the connection without answering
    delay_s: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Script = Callable[[Request], Answer]


@dataclass
class StubServer:
    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    scripts: dict[str, list[Answer | Script]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *answers: Answer | Script) -> None:
        self.scripts[path] = list(answers)

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            script = self.scripts.get(request.path)
            if not script:
                return Answer(404, {"error": "no such path"})
            step = script.pop(0) if len(script) > 1 else script[0]
        return step(request) if callable(step) else step


def ok(data: Any) -> Answer:
    return Answer(200, {"success": True, "code": "200", "message": "成功", "data": data})


def refused(code: str, message: str, data: Any = None) -> Answer:
    return Answer(200, {"success": False, "code": code, "message": message, "data": data})


def token_script() -> Script:
    """Hands out tok-1, tok-2, ... so tests can tell which token a call carried."""
    counter = itertools.count(1)
    return lambda _request: Answer(
        200, {"access_token": f"tok-{next(counter)}", "token_type": "bearer", "expires_in": 3600}
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
        answer = self.server.stub.answer(request)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.drop:
            self.close_connection = True
            return
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        lines = [
            f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in answer.headers),
        ]
        # One write: headers and body apart would stall keep-alive calls on a delayed ACK.
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: StubServer) -> None:
        self.stub = stub
        super().__init__(("127.0.0.1", 0), _Handler)


def start_stub() -> tuple[StubServer, Callable[[], None]]:
    """A running stub and the function that stops it."""
    server_stub = StubServer()
    server = _Server(server_stub)
    server_stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    server_stub.script(TOKEN_PATH, token_script())
    server_stub.script(YLH_TOKEN_PATH, token_script())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return server_stub, stop


def jsh_settings(stub: StubServer, **overrides: Any) -> JshSettings:
    values: dict[str, Any] = {
        "base_url": stub.base_url,
        "client_id": "client-A",
        "client_secret": SECRETS[0],
        "customer_code": "8800633175",
        "password": SECRETS[1],
        "seller_password": SECRETS[2],
        "rate_limit": 1000.0,
        "timeout_s": 2.0,
    }
    return JshSettings(**(values | overrides))


def ylh_settings(stub: StubServer, **overrides: Any) -> YlhSettings:
    values: dict[str, Any] = {
        "base_url": stub.base_url + "/ylh",
        "auth_url": stub.base_url + YLH_TOKEN_PATH,
        "client_id": "ylh-client",
        "client_secret": SECRETS[3],
        "username": "shop-user",
        "password": SECRETS[4],
        "rate_limit": 1000.0,
        "timeout_s": 2.0,
    }
    return YlhSettings(**(values | overrides))
