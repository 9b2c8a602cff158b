"""The HTTP endpoint that Haier calls with order outcomes (haier-api.md section 4).

A callback is answered with success only after it is durably spooled (``spool.write``): if we
crash before answering, Haier sees no success and sends it again, so nothing acknowledged is
ever lost. Anything refused changes nothing on disk. The receiver knows nothing of DuckDB or
Dagster; the pipeline drains the spool at its own pace.

Accounts: each Haier account may have its own callback AppKey and secret (the accounts file's
``callback_app_key`` and ``callback_secret_env``, else HAIER_CALLBACK_*). A callback is
verified with the secret of the account whose AppKey it carries, and spooled with that
account's name, so that only that account's orders are touched; an AppKey of no account is
refused (401) and changes nothing.

Replays: a callback whose TimeStamp is more than the replay window from our clock is refused,
and each distinct callback (Method, Data, TimeStamp, Sign) is spooled once; a repeat is
answered with success so that Haier stops resending, and nothing more is stored. Only POST to
``/`` is served; any other path is answered 404 (see :mod:`haier_pipeline.callbacks.app`, which
also serves ``GET /healthz`` for probes).

HTTP: the standard library's server is not meant for production (its own documentation says
so), and it gave every connection a thread: 300 clients sending a byte every 7 s held 302
threads. The receiver is a WSGI app served by waitress, which buffers each request whole on one
I/O thread before a worker sees it, so slow clients cost sockets, not threads (the README's
"Callback receiver" section has the settings and why).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from waitress.server import create_server

from haier_pipeline.accounts import DEFAULT_ACCOUNT, Account, AccountsFileError, load_accounts
from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.app import Answer, CallbackApp, refuse
from haier_pipeline.callbacks.model import (
    Callback,
    InvalidCallback,
    check_fresh,
    format_timestamp,
)
from haier_pipeline.callbacks.signing import SIGN_FIELD, verify
from haier_pipeline.environment import (
    HAIER_CALLBACK_APP_KEY,
    HAIER_CALLBACK_REPLAY_WINDOW_S,
    HAIER_CALLBACK_SECRET,
    HAIER_CALLBACK_SPOOL,
    SettingError,
    Variable,
)

LOG = logging.getLogger("haier_pipeline.callbacks")

MAX_BODY_BYTES = 64 * 1024
"""A callback is a few hundred bytes (FailMsg is at most 100 characters); more is abuse.
Waitress answers a larger declared body 413 before reading it."""
MAX_HEADER_BYTES = 16 * 1024
"""Haier's requests carry a handful of short headers; waitress's default is 256 KiB."""
IDLE_TIMEOUT_S = 10.0
"""A connection with no bytes for this long (a client stalled mid-request, or an idle
keep-alive) is closed; waitress checks every ``CLEANUP_INTERVAL_S``."""
CLEANUP_INTERVAL_S = 2.0
THREADS = 8
"""Worker threads that verify and spool complete requests (each spool write is an fsync).
Waitress reads every request whole on its one I/O thread before a worker sees it, so a slow
client holds a socket, never a thread: the process has THREADS + 1 serving threads whatever
the clients do."""
CONNECTION_LIMIT = 800
"""Open connections before waitress stops accepting (they then wait in the listen backlog).
Each costs one file descriptor; 800 stays under a container's usual 1,024 with room for the
spool's files."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before we accept them (capped by net.core.somaxconn). The
stdlib's 5 reset 68 of 2,000 callbacks sent at once."""
SHUTDOWN_GRACE_S = 10.0
"""On stop, requests being verified and spooled get this long to finish and be answered."""

DEFAULT_REPLAY_WINDOW_S = float(HAIER_CALLBACK_REPLAY_WINDOW_S.default_text())
"""Ten minutes either side of our clock: room for Haier's retries and clock drift, while a
callback captured and replayed later is refused."""


T = TypeVar("T")


@dataclass(frozen=True)
class AccountKey:
    """The AppKey Haier sends in one account's callbacks, and the secret that signs them."""

    app_key: str
    secret: str = field(repr=False)
    account: str = DEFAULT_ACCOUNT


def _checked_keys(keys: AccountKey | Sequence[AccountKey]) -> tuple[AccountKey, ...]:
    """Each account's key, non-blank; one AppKey may not stand for two accounts (a callback
    carrying it could not say whose order it is)."""
    keys = (keys,) if isinstance(keys, AccountKey) else tuple(keys)
    if not keys or any(not key.app_key.strip() or not key.secret.strip() for key in keys):
        raise ValueError("CallbackReceiver needs a non-blank app_key and secret for each account")
    owners: dict[str, str] = {}
    for key in keys:
        if key.app_key in owners:
            raise ValueError(
                f"accounts {owners[key.app_key]} and {key.account} use the same callback AppKey "
                f"{key.app_key!r}; give each account its own callback_app_key in the accounts file"
            )
        owners[key.app_key] = key.account
    return keys


class CallbackReceiver:
    """Verifies, spools and acknowledges Haier callbacks, served by waitress.

    Use as a context manager (``with CallbackReceiver(...) as receiver: receiver.url``) or call
    ``start()`` and ``stop()``. The socket is bound in the constructor so that ``url`` is
    known, and a busy port fails, before any thread starts.

    Waitress is configured here, not re-implemented: it reads each request whole on one I/O
    thread, hands complete ones to ``THREADS`` workers, closes connections idle for
    ``IDLE_TIMEOUT_S``, answers a body over ``MAX_BODY_BYTES`` 413 and caps open connections
    at ``connection_limit``.
    """

    def __init__(
        self,
        spool_dir: Path | str,
        keys: AccountKey | Sequence[AccountKey],
        host: str = "127.0.0.1",
        port: int = 0,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
        threads: int = THREADS,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        self._keys = _checked_keys(keys)
        self.spool_dir = Path(spool_dir)
        self.replay_window = timedelta(seconds=replay_window_s)
        self._forgotten_at = datetime.min.replace(tzinfo=UTC)
        self._forget_lock = threading.Lock()
        spool.ensure_layout(self.spool_dir)
        # Any: types-waitress lacks effective_host/_map and types ``trigger`` as an int.
        self._server: Any = create_server(
            CallbackApp(self.answer, self.spool_dir),
            host=host,
            port=port,
            threads=threads,
            connection_limit=connection_limit,
            backlog=LISTEN_BACKLOG,
            channel_timeout=IDLE_TIMEOUT_S,
            cleanup_interval=CLEANUP_INTERVAL_S,
            max_request_body_size=MAX_BODY_BYTES,
            max_request_header_size=MAX_HEADER_BYTES,
            asyncore_use_poll=True,  # select() fails past 1,024 descriptors
            expose_tracebacks=False,
            ident="haier-callbacks",
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}/"

    def start(self) -> CallbackReceiver:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.run, name="haier-callbacks", daemon=True
            )
            self._thread.start()
            LOG.info("callback receiver listening on %s, spooling to %s", self.url, self.spool_dir)
        return self

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish their spooling and get their answer
        (up to ``SHUTDOWN_GRACE_S``), then close every connection and release the port.

        A request still queued is dropped unanswered: Haier saw no success, so it resends."""
        server = self._server
        if self._thread is None:
            server.task_dispatcher.shutdown(timeout=0)
            server.close()
            return
        _on_io_thread(server, _stop_accepting(server))
        server.task_dispatcher.shutdown(timeout=SHUTDOWN_GRACE_S)
        _on_io_thread(server, lambda: _close_all(server))
        self._thread.join()
        self._thread = None

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(self, body: bytes, received_at: datetime, client: str) -> Answer:
        """Decide on one request body: refuse it, or spool it and acknowledge it."""
        try:
            fields = _parse_form(body)
        except InvalidCallback as error:
            return refuse(400, "bad_request", str(error), client)
        key = self._key_of(fields.get("AppKey", ""))
        if key is None:
            reason = f"AppKey {fields.get('AppKey', '')!r} is not the one agreed with us"
            return refuse(401, "unauthorized", reason, client)
        if not verify(fields, key.secret):
            missing = not fields.get(SIGN_FIELD, "").strip()
            reason = "Sign is missing" if missing else "Sign does not match the form fields"
            return refuse(401, "unauthorized", reason, client)
        try:
            callback = Callback.from_form(fields, received_at, key.account)
            check_fresh(callback.timestamp, received_at, self.replay_window)
        except InvalidCallback as error:
            return refuse(400, "bad_request", str(error), client)
        return self._spool(callback, spool.replay_key(fields), client)

    def _key_of(self, app_key: str) -> AccountKey | None:
        """The account whose AppKey this is; every key is compared, in constant time each."""
        found = None
        for key in self._keys:
            if hmac.compare_digest(app_key.encode(), key.app_key.encode()):
                found = key
        return found

    def _spool(self, callback: Callback, key: str, client: str) -> Answer:
        self._forget_old_markers(callback.received_at)
        try:
            path = spool.write_once(self.spool_dir, callback, key)
        except OSError:
            LOG.exception("callback for order %s NOT spooled", callback.platform_order_no)
            return refuse(500, "internal_error", "could not store the callback; resend", client)
        what = (
            f"{callback.method} order {callback.platform_order_no} state {callback.state} "
            f"of account {callback.account}"
        )
        if path is None:
            LOG.info("callback repeated by %s: %s, already spooled; answered success", client, what)
        else:
            LOG.info("callback accepted from %s: %s, spooled as %s", client, what, path.name)
        return 200, {
            "success": True,
            "code": "success",
            "description": "成功",
            "timeStamp": format_timestamp(datetime.now(UTC)),
            "data": {
                "statusCode": "200",
                "message": "成功",
                "platformOrderNo": callback.platform_order_no,
            },
        }

    def _forget_old_markers(self, now: datetime) -> None:
        """Once per window, drop the replay markers the window has made useless."""
        with self._forget_lock:
            if now - self._forgotten_at < self.replay_window:
                return
            self._forgotten_at = now
        spool.forget_seen_before(self.spool_dir, now - 2 * self.replay_window)


def _on_io_thread(server: Any, thunk: Callable[[], None]) -> None:
    """Run ``thunk`` on waitress's I/O thread, or here once that thread has let go of its
    trigger: waitress closes the trigger with the server (an error event on the listening
    socket does that), and a trigger pulled after that fails with EBADF."""
    try:
        server.trigger.pull_trigger(thunk)
    except OSError:
        thunk()


def _stop_accepting(server: Any) -> Callable[[], None]:
    """A thunk for waitress's I/O thread: stop accepting and close the listening socket."""

    def thunk() -> None:
        server.accepting = False
        server.del_channel()
        server.socket.close()

    return thunk


def _close_all(server: Any) -> None:
    """On waitress's I/O thread: close every connection; its loop ends with nothing left."""
    for channel in list(server._map.values()):
        channel.close()


def _parse_form(body: bytes) -> dict[str, str]:
    """Decode an x-www-form-urlencoded UTF-8 body; a repeated field is refused as ambiguous."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidCallback("body is not UTF-8 x-www-form-urlencoded form data") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InvalidCallback(f"form field {name} appears more than once")
        fields[name] = value
    return fields


class _EnvProblem(Exception):
    pass


def _setting(variable: Variable[T]) -> T:
    """A variable's value, or an _EnvProblem saying in one line what to set and why."""
    text = variable.text()
    if variable.missing(text):
        raise _EnvProblem(
            f"environment variable {variable.name} is not set; set it to {variable.meaning}"
        )
    try:
        return variable.value(text)
    except SettingError as problem:
        raise _EnvProblem(f"environment variable {problem}") from None


def account_keys() -> list[AccountKey]:
    """Each account's callback AppKey and secret: the accounts file's, else HAIER_CALLBACK_*."""
    try:
        accounts = load_accounts()
    except AccountsFileError as problem:
        raise _EnvProblem(str(problem)) from None
    return [_account_key(account) for account in accounts]


def _account_key(account: Account) -> AccountKey:
    if account.from_environment:
        return AccountKey(
            _setting(HAIER_CALLBACK_APP_KEY), _setting(HAIER_CALLBACK_SECRET), account.name
        )
    try:
        app_key, secret = account.callback_credentials()
    except SettingError as problem:
        raise _EnvProblem(f"account {account.name} ({account.origin}): {problem}") from None
    return AccountKey(app_key, secret, account.name)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="haier-pipeline callbacks",
        description="Receive Haier order callbacks and spool them for the pipeline.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8766, help="port to listen on (0: any)")
    parser.add_argument(
        "--spool",
        type=Path,
        default=None,
        help=f"spool folder (default: ${HAIER_CALLBACK_SPOOL.name} or "
        f"{HAIER_CALLBACK_SPOOL.default_text()})",
    )
    parser.add_argument(
        "--threads", type=_positive, default=THREADS, help="worker threads that spool callbacks"
    )
    parser.add_argument(
        "--connection-limit",
        type=_positive,
        default=CONNECTION_LIMIT,
        help="open connections before new ones wait in the listen backlog",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the receiver until SIGINT or SIGTERM; exit 2 on missing configuration."""
    args = _parse_args(argv)
    try:
        keys = account_keys()
        window_s = _setting(HAIER_CALLBACK_REPLAY_WINDOW_S)
        # A --spool given on the command line is the shell's; the variable follows the
        # data-path rule (HAIER_DATA_DIR), like every process that reads the spool.
        args.spool = args.spool or _setting(HAIER_CALLBACK_SPOOL)
    except _EnvProblem as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        spool.ensure_layout(args.spool)
    except OSError as error:
        print(f"error: cannot create the spool folder {args.spool} ({error})", file=sys.stderr)
        return 1
    try:
        receiver = CallbackReceiver(
            args.spool,
            keys,
            args.host,
            args.port,
            window_s,
            threads=args.threads,
            connection_limit=args.connection_limit,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port} ({error})", file=sys.stderr)
        return 1
    with receiver:
        print(f"listening on {receiver.url}, spooling to {args.spool}", flush=True)
        _wait_for_stop_signal()
    return 0


def _wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM, so that both stop the server cleanly (in-flight
    callbacks finish spooling and get their answer)."""
    stopping = threading.Event()
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda *_: stopping.set()) for signum in signums}
    try:
        stopping.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
