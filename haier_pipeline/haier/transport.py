"""The call machinery both Haier clients share: the call budget, retries, tokens, the envelope.

Every decision about what to retry lives in :meth:`Transport._attempt` and
:meth:`Transport.exchange`; the clients only say which URL to call with which body. All Haier
calls are lookups or the soId-keyed order push, which the server deduplicates, so repeating
a POST after a transient failure is safe.

Retried (at most ``RetryPolicy.max_retries`` times, each attempt drawn from the call budget,
:mod:`.budget`, at the priority of the code making the call):
429, 500, 502, 503, 504, timeouts, dropped connections, and a 2xx answer that is not JSON.
The last one is a judgement call: an HTML page in place of JSON comes from a gateway, WAF or
proxy between us and Haier, which is usually momentary; the retry budget is small, so a URL
that always answers HTML still fails within seconds with a HaierProtocolError.
Not retried: 400, 403, 404 and other statuses, ``success: false``. 401: the token is
fetched anew once and the call repeated once; if the new token is refused too (under load a
gateway can revoke again between our refresh and our retry), the same happens again, at most
``max_retries`` times, before HaierAuthError.

:meth:`Transport.call_items` is :meth:`Transport.call` for a payload too big to hold as Python
objects (the whole catalog): the same attempts, retries and 401 handling decide on a complete
body, which is only spooled to a temporary file (:mod:`.streamjson`) instead of parsed, and
its list items are then read one at a time.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from haier_pipeline.haier import fields, jsonio
from haier_pipeline.haier.budget import budget_for, current_priority
from haier_pipeline.haier.errors import (
    HaierAuthError,
    HaierBusinessError,
    HaierError,
    HaierHttpError,
    HaierProtocolError,
    HaierTransientError,
    HaierUnreachableError,
)
from haier_pipeline.haier.masking import get_logger, mask, register_secrets
from haier_pipeline.haier.payloads import as_list
from haier_pipeline.haier.retry import RetryPolicy, parse_retry_after
from haier_pipeline.haier.stats import CallStats, StatsCounter
from haier_pipeline.haier.streamjson import SpooledJson
from haier_pipeline.haier.tokens import Token, TokenCache, parse_token

log = get_logger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_EXCERPT_CHARS = 200
_NOT_JSON = object()
_SUCCEEDED = (True, "true")
_FAILED = (False, "false")
# Top-level members a spooled answer's scan notes: enough to find its list without parsing it.
_ENVELOPE_MEMBERS = frozenset({fields.SUCCESS, fields.DATA})
_DOWNLOAD_BYTES = 64 << 10
_WITHHELD = "(not shown: the answer to a token request may echo the credentials sent)"


@dataclass(frozen=True)
class Reply:
    """A final (non-transient) answer: its status, parsed JSON body and a masked excerpt.

    When the exchange asked to spool, a 2xx ``payload`` is the scanned :class:`SpooledJson`
    instead, and the caller reads or closes it.
    """

    status: int
    payload: Any
    excerpt: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class _Transient:
    cause: BaseException
    retry_after: float | None = None


class Transport:
    """One HTTP session, retry policy, token cache and statistics per client; one call budget
    per client_id for the whole machine.

    ``fetch_token`` gets a new token (it may call :meth:`exchange`); ``credentials_hint``
    names the settings to check when the token is refused, ``url_hint`` those to check when
    no connection can be made.
    """

    def __init__(
        self,
        *,
        client_id: str,
        rate_limit: float,
        timeout_s: float,
        max_workers: int,
        retry: RetryPolicy | None,
        fetch_token: Callable[[Transport], Token],
        credentials_hint: str,
        url_hint: str = "the base and token URLs",
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers is {max_workers}; use 1 or more")
        self.retry = retry or RetryPolicy()
        self.credentials_hint = credentials_hint
        self.url_hint = url_hint
        self._timeout_s = timeout_s
        self._budget = budget_for(client_id, rate_limit)
        self._stats = StatsCounter()
        self._session = requests.Session()
        # pool_block: more threads than connections wait for one instead of opening and
        # discarding extra connections (requests' default pool holds only 10).
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max_workers, pool_block=True)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._tokens = TokenCache(
            lambda: self._new_token(fetch_token),
            on_refresh=lambda: self._stats.add("token_refreshes"),
        )

    @property
    def stats(self) -> CallStats:
        return self._stats.snapshot()

    def close(self) -> None:
        self._session.close()

    def call(self, url: str, body: Any) -> Any:
        """An authenticated JSON call; returns the payload (``data`` or the bare answer)."""
        return self.payload(endpoint_of(url), self._authorised(url, body, spool=False))

    def call_items(self, url: str, body: Any) -> Iterator[Any]:
        """An authenticated call whose payload is a list, yielded one item at a time.

        The call, its retries and token refreshes are over when this returns, so their errors
        are raised here as from :meth:`call`; the items are parsed from the spooled body as
        the caller iterates. The list is the bare answer or ``data`` of a successful envelope;
        any other answer (``success: false``, ``data`` null or a single object) is read whole
        and judged exactly as :meth:`call` and :func:`~.payloads.as_list` judge it.
        """
        endpoint = endpoint_of(url)
        reply = self._authorised(url, body, spool=True)
        answer = reply.payload
        if isinstance(answer, SpooledJson):
            prefix = _list_prefix(answer)
            if prefix is not None:
                return answer.items(prefix)
            reply = replace(reply, payload=answer.load())
        return iter(as_list(endpoint, self.payload(endpoint, reply)))

    def _authorised(self, url: str, body: Any, *, spool: bool) -> Reply:
        """The final reply to an authenticated call, a refused token replaced as described."""
        endpoint = endpoint_of(url)
        token = self._tokens.get()
        reply = self.exchange(url, json_body=body, token=token, spool=spool)
        for _ in range(self.retry.max_retries):
            if reply.status != 401:
                break
            log.info("%s refused the access token; fetching a new one and retrying", endpoint)
            self._tokens.invalidate(token)
            token = self._tokens.get()
            reply = self.exchange(url, json_body=body, token=token, spool=spool)
        if reply.status == 401:
            raise HaierAuthError(
                endpoint,
                "every freshly issued token was refused too (revoked at once each time, or "
                "issued by another gateway)",
                f"that {self.credentials_hint} are authorised for this API and that the token "
                "URL belongs to the same gateway as the base URL",
            )
        return reply

    def payload(self, endpoint: str, reply: Reply) -> Any:
        """The payload of a 2xx answer, or the error its status or envelope stands for."""
        if not reply.ok:
            raise HaierHttpError(reply.status, endpoint, reply.excerpt)
        body = reply.payload
        if not (isinstance(body, Mapping) and fields.SUCCESS in body):
            return body  # older gateways answer with the bare payload
        success = body[fields.SUCCESS]
        if success in _SUCCEEDED:
            return body.get(fields.DATA)
        if success in _FAILED:
            self._stats.add("business_failures")
            code, message = body.get(fields.CODE), body.get(fields.MESSAGE)
            raise HaierBusinessError(str(code), mask(str(message)), endpoint, body.get(fields.DATA))
        raise HaierProtocolError(endpoint, f"'{fields.SUCCESS}' is {success!r}, not true or false")

    def token_from(self, url: str, reply: Reply) -> Token:
        """The token in a token endpoint's answer; refusals become HaierAuthError.

        400 counts as a refusal too: OAuth2 servers answer a wrong password with 400
        ``invalid_grant``.
        """
        endpoint = endpoint_of(url)
        if reply.status in (400, 401):
            raise HaierAuthError(
                endpoint, f"the token URL answered HTTP {reply.status}", self.credentials_hint
            )
        try:
            return parse_token(endpoint, self.payload(endpoint, reply))
        except HaierBusinessError as exc:
            detail = f"the token request was refused ({exc.code}: {exc.message})"
            raise HaierAuthError(endpoint, detail, self.credentials_hint) from exc

    def exchange(
        self,
        url: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        spool: bool = False,
    ) -> Reply:
        """POST with transient failures retried; returns the first non-transient answer.

        ``spool``: a 2xx body goes to a :class:`SpooledJson` (see :class:`Reply`), and is
        validated there in place of being parsed.
        """
        endpoint = endpoint_of(url)
        data, all_headers = _encode(json_body, form, headers, token)
        # Only a token request goes without a token, and a gateway that echoes it would hand
        # the credentials back in whatever encoding it likes: none of its answer is kept.
        excerpts = token is not None
        attempts = self.retry.max_retries + 1
        outcome: Reply | _Transient = _Transient(RuntimeError("no attempt made"))
        for attempt in range(attempts):
            if attempt:
                self._pause(endpoint, attempt, outcome)
            outcome = self._attempt(endpoint, url, data, all_headers, spool, excerpts)
            if isinstance(outcome, Reply):
                return outcome
        return self._give_up(url, attempts, outcome)

    def _pause(self, endpoint: str, attempt: int, failed: Reply | _Transient) -> None:
        assert isinstance(failed, _Transient)
        wait = self.retry.delay(attempt, failed.retry_after)
        log.warning(
            "%s; retry %d of %d in %.2f s",
            _describe(endpoint, failed.cause),
            attempt,
            self.retry.max_retries,
            wait,
        )
        self._stats.add("retries")
        time.sleep(wait)

    def _give_up(self, url: str, attempts: int, failed: Reply | _Transient) -> Reply:
        assert isinstance(failed, _Transient)
        endpoint, cause = endpoint_of(url), failed.cause
        log.warning("giving up after %d attempts: %s", attempts, _describe(endpoint, cause))
        if isinstance(cause, HaierProtocolError):
            raise HaierProtocolError(
                endpoint, f"{cause.detail} ({attempts} attempts in a row)", cause.excerpt
            ) from cause
        reason = _no_connection(cause)
        if reason:
            # The cause's text is urllib3's retelling of the URL; the message says it all.
            raise HaierUnreachableError(
                endpoint,
                attempts,
                cause,
                address=_address(url),
                reason=reason,
                url_hint=self.url_hint,
            ) from None
        # from None: Dagster stores a failure's whole chain, and requests' exception quotes
        # the URL it tried; our error carries its text, masked.
        raise HaierTransientError(endpoint, attempts, cause) from None

    def _attempt(
        self,
        endpoint: str,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        spool: bool,
        excerpts: bool,
    ) -> Reply | _Transient:
        self._budget.acquire(current_priority())
        self._stats.add("calls")
        started = time.monotonic()
        try:
            response = self._session.post(
                url, data=data, headers=headers, timeout=self._timeout_s, stream=spool
            )
            body = _body(response, spool)
        except requests.Timeout as exc:
            self._stats.add("timeouts")
            return _Transient(exc)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            self._stats.add("dropped")
            return _Transient(exc)
        except requests.RequestException as exc:  # a URL requests cannot use at all
            detail = f"the request could not be sent ({type(exc).__name__}: {exc})"
            raise HaierProtocolError(endpoint, detail) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("POST %s -> %d in %.0f ms", endpoint, response.status_code, elapsed_ms)
        return self._classify(endpoint, response, body, excerpts)

    def _classify(
        self,
        endpoint: str,
        response: requests.Response,
        body: bytes | SpooledJson,
        excerpts: bool,
    ) -> Reply | _Transient:
        status = response.status_code
        excerpt = _excerpt(body) if excerpts else _WITHHELD
        if status in TRANSIENT_STATUSES:
            self._stats.add("http_429" if status == 429 else "http_5xx")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return _Transient(HaierHttpError(status, endpoint, excerpt), retry_after)
        payload = _decode(body)
        if 200 <= status < 300 and payload is _NOT_JSON:
            self._stats.add("non_json")
            return _Transient(HaierProtocolError(endpoint, "the answer is not JSON", excerpt))
        return Reply(status, None if payload is _NOT_JSON else payload, excerpt)

    def _new_token(self, fetch_token: Callable[[Transport], Token]) -> Token:
        token = fetch_token(self)
        register_secrets([token.value])
        log.info("obtained an access token valid for %.0f s", token.expires_in_s)
        return token


def endpoint_of(url: str) -> str:
    """The URL's path: names the endpoint in messages without the host or a query."""
    return urllib.parse.urlsplit(url).path or url


def _no_connection(cause: BaseException) -> str:
    """Why no connection could be opened at all, or "" when one was (and then failed: a
    dropped answer, a read timeout), which a busy gateway does and retrying may cure."""
    if isinstance(cause, requests.ConnectTimeout):
        return "no answer to the connection attempt"
    if not isinstance(cause, requests.ConnectionError) or not cause.args:
        return ""
    failure = cause.args[0]
    reason = failure.reason if isinstance(failure, MaxRetryError) else failure
    if isinstance(reason, NameResolutionError):
        return "host name not found"
    if not isinstance(reason, NewConnectionError):
        return ""
    os_error = reason.__cause__ or reason.__context__
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    return (getattr(os_error, "strerror", None) or "no connection").lower()


def _address(url: str) -> str:
    """host:port of a URL (the scheme's port when it names none), without any user or query."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.hostname or ''}:{port or default}"


def _describe(endpoint: str, cause: BaseException) -> str:
    """Our errors already name the endpoint; a requests exception only names the URL."""
    if isinstance(cause, HaierError):
        return str(cause)
    return f"{endpoint}: {type(cause).__name__}: {cause}"


def _encode(
    json_body: Any,
    form: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    token: str | None,
) -> tuple[bytes, dict[str, str]]:
    all_headers = {"Accept": "application/json"}
    if form is not None:
        data = urllib.parse.urlencode(form).encode("ascii")
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        data = jsonio.dumps(json_body).encode("utf-8")
        all_headers["Content-Type"] = "application/json; charset=utf-8"
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    return data, all_headers


def _body(response: requests.Response, spool: bool) -> bytes | SpooledJson:
    """The body in memory, or a 2xx one spooled when asked (errors, 401s are small)."""
    if spool and 200 <= response.status_code < 300:
        with response:
            return SpooledJson(response.iter_content(_DOWNLOAD_BYTES))
    return response.content


def _decode(body: bytes | SpooledJson) -> Any:
    if isinstance(body, SpooledJson):
        if body.scan(_ENVELOPE_MEMBERS):
            return body
        body.close()
        return _NOT_JSON
    try:
        return jsonio.loads(body)
    except ValueError:
        return _NOT_JSON


def _list_prefix(answer: SpooledJson) -> str | None:
    """Where a spooled answer's list items are: a bare list, or ``data`` of a success."""
    if answer.kind == "start_array":
        return "item"
    _, success = answer.members.get(fields.SUCCESS, ("", None))
    data_kind, _ = answer.members.get(fields.DATA, ("", None))
    if answer.kind == "start_map" and success in _SUCCEEDED and data_kind == "start_array":
        return f"{fields.DATA}.item"
    return None


def _excerpt(body: bytes | SpooledJson) -> str:
    content = body.head(_EXCERPT_CHARS) if isinstance(body, SpooledJson) else body
    text = content[:_EXCERPT_CHARS].decode("utf-8", errors="replace")
    return mask(" ".join(text.split()))


class ClientSettings(Protocol):
    """What a Transport needs of either API's settings."""

    @property
    def client_id(self) -> str: ...
    @property
    def rate_limit(self) -> float: ...
    @property
    def timeout_s(self) -> float: ...
    def secrets(self) -> list[str]: ...


class TransportClient:
    """What the JSH and YLH clients share around their Transport: construction (secrets
    registered for masking before any call), statistics, the worker count and closing."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        max_workers: int,
        retry: RetryPolicy | None,
        credentials_hint: str,
        url_hint: str,
        extra_secrets: Iterable[str] = (),
    ) -> None:
        register_secrets([*settings.secrets(), *extra_secrets])
        self.max_workers = max_workers
        """Calls in flight at once: the client's connection pool, and the caller's threads."""
        self._transport = Transport(
            client_id=settings.client_id,
            rate_limit=settings.rate_limit,
            timeout_s=settings.timeout_s,
            max_workers=max_workers,
            retry=retry,
            fetch_token=self._fetch_token,
            credentials_hint=credentials_hint,
            url_hint=url_hint,
        )

    def _fetch_token(self, transport: Transport) -> Token:
        raise NotImplementedError

    @property
    def stats(self) -> CallStats:
        return self._transport.stats

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
