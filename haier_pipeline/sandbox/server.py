"""The sandbox: a local emulator of every Haier endpoint, served on 127.0.0.1.

``SandboxServer`` ties catalog, account, faults, order book and statistics to one HTTP server
and is what tests hold. Each API call passes the gateway in the order a real one would:
faults before the gateway (token revocation, latency, drop), the rate limit and 429 bursts,
authentication, backend faults (5xx, HTML), and only then the endpoint.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

from haier_pipeline.haier.settings import JshSettings, YlhSettings
from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox import validate as v
from haier_pipeline.sandbox.admin import admin_answer
from haier_pipeline.sandbox.auth import RateLimiter, SandboxAccount, TokenEndpoints, TokenStore
from haier_pipeline.sandbox.callback_sender import SignMode, send_callback
from haier_pipeline.sandbox.catalog import DEFAULT_COUNTIES, SandboxCatalog, generate_catalog
from haier_pipeline.sandbox.faults import Decision, FaultConfig, FaultState
from haier_pipeline.sandbox.httpio import (
    DROP,
    HTML_TYPE,
    Answer,
    HttpServer,
    basic_auth,
    bearer_token,
    error_answer,
    json_answer,
    read_body,
    write_answer,
)
from haier_pipeline.sandbox.jsh import JshApi
from haier_pipeline.sandbox.orders import OrderBook
from haier_pipeline.sandbox.stats import SandboxStats
from haier_pipeline.sandbox.wire import (
    ApiError,
    BadRequest,
    BusinessFailure,
    Unauthorized,
    failure,
    ok,
)
from haier_pipeline.sandbox.ylh import YlhApi

HTML_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>系统维护</title></head>"
    "<body><h1>系统维护中, 请稍后再试</h1><p>Gateway maintenance page.</p></body></html>"
).encode()
RETRY_AFTER = (("Retry-After", "1"),)
ANONYMOUS = "<anonymous>"  # rate-limit bucket for calls that name no client


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: str
    realm: str  # "jsh" or "ylh" for API calls, "jsh-token"/"ylh-token" for token calls
    handle: Callable[[Any, FaultConfig], Any] | None = None
    bare_array: bool = False  # 3.5 takes a bare JSON array; every other call an object


class SandboxServer:
    """A running emulator of the JSH and YLH APIs; use as a context manager.

    ``catalog`` wins over ``size``/``seed``. ``rate_limit`` is calls per second per client_id
    (0 or None: unlimited). ``faults`` can be swapped at runtime through the property.
    ``refusal_code`` and ``refusal_message``, when given, replace the code and message of
    every business refusal (HTTP 200, ``success: false``): a gateway whose codes no client
    has been written for, as Haier's real ones are (haier-api.md promises only a code and a
    message).
    """

    def __init__(
        self,
        catalog: SandboxCatalog | None = None,
        *,
        size: int = 500,
        seed: int = 42,
        port: int = 0,
        rate_limit: float | None = 100.0,
        faults: FaultConfig | None = None,
        token_ttl_s: float = 3600,
        account: SandboxAccount | None = None,
        jsh_token_paths: tuple[str, ...] = p.JSH_TOKEN_PATHS,
        refusal_code: str | None = None,
        refusal_message: str | None = None,
    ) -> None:
        self.refusal_code = refusal_code
        self.refusal_message = refusal_message
        self.catalog = catalog if catalog is not None else generate_catalog(size, seed)
        self.account = account or SandboxAccount()
        self.rate_limit = rate_limit or 0.0
        self._port = port
        self._fault_state = FaultState(faults or FaultConfig())
        self._tokens = TokenStore(token_ttl_s)
        self._token_endpoints = TokenEndpoints(
            self.account, self._tokens, lambda: self._stats.event("token")
        )
        self._limiter = RateLimiter(rate_limit)
        self._stats = SandboxStats()
        self._orders = OrderBook(self.catalog.seed)
        self._jsh = JshApi(self.catalog, self.account, self._orders, self._stats)
        self._ylh = YlhApi(self.catalog, self.account, self._orders, self._stats)
        self._routes = self._build_routes(jsh_token_paths)
        self._http: HttpServer | None = None
        self._thread: threading.Thread | None = None

    def _build_routes(self, token_paths: tuple[str, ...]) -> dict[str, Route]:
        jsh, ylh = self._jsh, self._ylh
        routes = {path: Route("jsh_token", "jsh-token") for path in token_paths}
        handlers = {
            "products": jsh.products,
            "prices": jsh.prices,
            "stock": jsh.stock,
            "logistics": jsh.logistics,
            "balance": jsh.balance,
        }
        for name, path in p.JSH_PATHS.items():
            routes[path] = Route(name, "jsh", handlers[name])
        routes[p.YLH_PREFIX + p.YLH_TOKEN_PATH] = Route("ylh_token", "ylh-token")
        ylh_handlers = {
            "order_create": ylh.create,
            "order_cancel": ylh.cancel,
            "order_reschedule": ylh.reschedule,
            "delivery_images": ylh.delivery_images,
            "store_logistics": ylh.store_logistics,
        }
        for name, path in p.YLH_PATHS.items():
            routes[p.YLH_PREFIX + path] = Route(
                name, "ylh", ylh_handlers[name], bare_array=name == "store_logistics"
            )
        return routes

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._http is not None:
            raise RuntimeError("the sandbox is already running")
        self._jsh.warm()
        self._http = HttpServer(self._port, self._serve)
        # stop() waits up to one poll interval; 20 ms keeps a test suite's teardowns short
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        http, thread = self._http, self._thread
        if http is None or thread is None:
            return
        http.shutdown()
        http.close_open_sockets()
        http.server_close()
        thread.join()
        self._http = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- where to reach it -----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the sandbox is not running; call start() or use it in a with")
        return self._http.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ylh_base_url(self) -> str:
        return self.base_url + p.YLH_PREFIX

    @property
    def ylh_auth_url(self) -> str:
        return self.ylh_base_url + p.YLH_TOKEN_PATH

    def jsh_settings(self, **overrides: Any) -> JshSettings:
        a = self.account
        settings = JshSettings(
            base_url=self.base_url,
            client_id=a.client_id,
            client_secret=a.client_secret,
            customer_code=a.customer_code,
            password=a.password,
            send_to_code=a.send_to_code,
            supplier_code=a.supplier_code,
            seller_password=a.seller_password,
            customer_password=a.customer_password,
        )
        if self.rate_limit:
            settings = dataclasses.replace(settings, rate_limit=self.rate_limit)
        return dataclasses.replace(settings, **overrides)

    def ylh_settings(self, **overrides: Any) -> YlhSettings:
        a = self.account
        settings = YlhSettings(
            base_url=self.ylh_base_url,
            auth_url=self.ylh_auth_url,
            client_id=a.ylh_client_id,
            client_secret=a.ylh_client_secret,
            username=a.ylh_username,
            password=a.ylh_password,
        )
        if self.rate_limit:
            settings = dataclasses.replace(settings, rate_limit=self.rate_limit)
        return dataclasses.replace(settings, **overrides)

    def env(self, **overrides: str) -> dict[str, str]:
        """The contract.md environment variables pointing at this sandbox."""
        a = self.account
        env = {
            "HAIER_BASE_URL": self.base_url,
            "HAIER_CLIENT_ID": a.client_id,
            "HAIER_CLIENT_SECRET": a.client_secret,
            "HAIER_CUSTOMER_CODE": a.customer_code,
            "HAIER_SEND_TO_CODE": a.send_to_code,
            "HAIER_SUPPLIER_CODE": a.supplier_code,
            "HAIER_PASSWORD": a.password,
            "HAIER_SELLER_PASSWORD": a.seller_password,
            "HAIER_CUSTOMER_PASSWORD": a.customer_password,
            "HAIER_COUNTY_CODES": ",".join(DEFAULT_COUNTIES),
            "YLH_AUTH_URL": self.ylh_auth_url,
            "YLH_BASE_URL": self.ylh_base_url,
            "YLH_CLIENT_ID": a.ylh_client_id,
            "YLH_CLIENT_SECRET": a.ylh_client_secret,
            "YLH_USERNAME": a.ylh_username,
            "YLH_PASSWORD": a.ylh_password,
            "HAIER_SOURCE_SYSTEM": a.source_system,
            "HAIER_SHOP_NAME": a.shop_name,
            "HAIER_CALLBACK_APP_KEY": a.callback_app_key,
            "HAIER_CALLBACK_SECRET": a.callback_secret,
        }
        if self.rate_limit:
            env["HAIER_RATE_LIMIT"] = f"{self.rate_limit:g}"
        for key, value in overrides.items():
            if not isinstance(value, str):
                raise TypeError(f"env override {key} must be a string, got {value!r}")
        return env | overrides

    # --- state for tests -------------------------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        return self._fault_state.config

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        # One attribute assignment: handler threads see the old state or the new, never a mix.
        self._fault_state = FaultState(config)

    def stats(self) -> dict[str, Any]:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        """A copy of every received order by soId (request, retailOrderNo, state, events)."""
        return self._orders.snapshot()

    def create_count(self, so_id: str) -> int:
        """Well-formed create calls for this soId that reached the order system."""
        return self._orders.create_count(so_id)

    def advance_logistics(self, so_id: str) -> dict[str, Any]:
        """Move an order one logistics status further; returns the appended event."""
        return self._orders.advance(so_id)

    def send_callback(
        self,
        url: str,
        method: str,
        platform_order_no: str,
        state: int,
        ext_order_no: str | None = None,
        fail_msg: str | None = None,
        sign: SignMode = "good",
        app_key: str | None = None,
        secret: str | None = None,
        timestamp: str | None = None,
    ) -> requests.Response:
        """POST a section-4 callback, as Haier would; defaults to this account's key and secret."""
        return send_callback(
            url,
            method,
            platform_order_no,
            state,
            ext_order_no,
            fail_msg,
            sign,
            app_key=app_key if app_key is not None else self.account.callback_app_key,
            secret=secret if secret is not None else self.account.callback_secret,
            timestamp=timestamp,
        )

    # --- per request -----------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request on the handler's connection."""
        path = handler.path.split("?", 1)[0]
        admin = path.startswith(p.ADMIN_PREFIX)
        try:
            raw = read_body(handler)
            if admin:
                answer = admin_answer(self, method, path, raw)
            else:
                answer = self._api(method, path, raw, handler)
        except ApiError as error:
            answer = error_answer(self._reworded(error))
        except Exception as exc:  # a sandbox bug: say so loudly, never hang the client
            traceback.print_exc()
            self._stats.event("internal_error")
            answer = json_answer(500, failure("500", f"sandbox internal error: {exc!r}"))
        if answer is DROP:
            handler.close_connection = True
            return
        if not admin:
            self._stats.status(answer.status)
        write_answer(handler, answer)

    def _reworded(self, error: ApiError) -> ApiError:
        """A business refusal in the words this sandbox was told to use, if any."""
        if not isinstance(error, BusinessFailure):
            return error
        code = self.refusal_code or error.code
        return BusinessFailure(code, self.refusal_message or error.message, error.data)

    def _api(self, method: str, path: str, raw: bytes, handler: BaseHTTPRequestHandler) -> Answer:
        route = self._routes.get(path)
        if route is None:
            self._stats.call("unknown")
            return json_answer(404, failure("404", f"no such endpoint: {method} {path}"))
        self._stats.call(route.endpoint)
        if method != "POST":
            return json_answer(405, failure("405", f"{path} takes POST"), (("Allow", "POST"),))
        state = self._fault_state
        decision = state.decide()
        early = self._gateway_faults(decision)
        if early is not None:
            return early
        client = self._client_of(route, raw, handler)
        self._stats.arrival(client)
        if not self._limiter.allow(client):
            return json_answer(429, failure("429", "rate limit exceeded"), RETRY_AFTER)
        if decision.burst_429:
            return json_answer(429, failure("429", "too many requests"), RETRY_AFTER)
        if route.handle is not None:
            self._authorize(handler, route.realm)
        return self._backend_faults(decision) or self._endpoint(route, path, raw, handler, state)

    def _endpoint(
        self,
        route: Route,
        path: str,
        raw: bytes,
        handler: BaseHTTPRequestHandler,
        state: FaultState,
    ) -> Answer:
        if route.realm == "jsh-token":
            token = self._token_endpoints.jsh(raw)
            # Sandbox convention: the second path answers inside the envelope, so clients meet
            # both shapes haier-api.md 2.0 says they must read (access_token, data.access_token).
            return json_answer(200, ok(token) if path == p.JSH_TOKEN_PATHS[1] else token)
        if route.realm == "ylh-token":
            system_name = handler.headers.get("system-name")
            return json_answer(
                200, self._token_endpoints.ylh(raw, system_name, basic_auth(handler))
            )
        assert route.handle is not None
        record = f"{route.endpoint} request"
        body = v.json_body(raw, record)
        if not route.bare_array and not isinstance(body, dict):
            raise BadRequest(f"{record}: body must be a JSON object")
        return json_answer(200, ok(route.handle(body, state.config)))

    def _gateway_faults(self, decision: Decision) -> Answer | None:
        if decision.revoke:
            self._tokens.revoke_all()
            self._stats.event("revoke")
        if decision.slow:
            self._stats.event("slow")
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.drop:
            self._stats.event("drop")
            return DROP
        return None

    def _backend_faults(self, decision: Decision) -> Answer | None:
        if decision.server_error is not None:
            status = decision.server_error
            message = HTTPStatus(status).phrase
            headers = RETRY_AFTER if status == 503 else ()
            return json_answer(status, failure(str(status), message), headers)
        if decision.html:
            self._stats.event("html")
            return Answer(200, HTML_PAGE, HTML_TYPE)
        return None

    def _client_of(self, route: Route, raw: bytes, handler: BaseHTTPRequestHandler) -> str:
        """The client_id a call is counted against (the claimed one for token calls)."""
        if route.realm == "ylh-token":
            return basic_auth(handler)[0] or ANONYMOUS
        if route.realm == "jsh-token":
            try:
                body = v.json_object(raw, "token request")
            except BadRequest:
                return ANONYMOUS
            return str(body.get("client_id") or ANONYMOUS)
        token = self._tokens.lookup(bearer_token(handler))
        return token.client_id if token is not None else ANONYMOUS

    def _authorize(self, handler: BaseHTTPRequestHandler, realm: str) -> None:
        value = bearer_token(handler)
        if not value:
            raise Unauthorized("Authorization header with a bearer token is required")
        token = self._tokens.lookup(value)
        if token is None:
            raise Unauthorized("token invalid or expired; get a new token")
        if token.realm != realm:
            raise Unauthorized(
                f"this is a {token.realm.upper()} token; {realm.upper()} needs its own"
            )
