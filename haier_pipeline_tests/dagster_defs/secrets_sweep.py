"""The secrets sweep of issue 15: a job meets a failure, and no secret, in any spelling,
reaches its output, DAGSTER_HOME (event log, compute logs) or the DuckDB files.

Three failures, each a way a credential has leaked before:

- ``unreachable``: nothing listens at the gateway, and the token URLs carry a secret in
  their query string (requests' ConnectionError quotes the URL it tried);
- ``echo``: a gateway (or proxy) that answers every request with 502 and echoes the request,
  headers and body, back (the form-encoded YLH password, the JSON-escaped client secret);
- ``invalid``: a URL setting that fails validation holds a secret in its user-info and query.

The secrets are spelled so that every encoding changes them, and the sweep looks for each
one written as it is, form- and percent-encoded, JSON-escaped and in base64 (spelled out
here, independently of ``masking.spellings``).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from haier_pipeline.storage import orders as db
from haier_pipeline.storage.schema import PRODUCTS
from haier_pipeline.storage.warehouse import Warehouse, upsert, utcnow
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

JOBS = ("catalog_sync", "push_orders", "track_logistics", "balance_snapshot", "check_connection")
KINDS = ("unreachable", "echo", "invalid")
PRODUCT = "GA0SZC00U"
UNREACHABLE = "http://127.0.0.1:9"

# Each secret starts with a core of eight letters and digits that no encoding or escaping
# changes (a message may quote a JSON-escaped echo with repr, doubling its backslashes),
# followed by characters every encoding changes.
SECRETS = {
    "HAIER_CLIENT_SECRET": 'Cs7Jq2Xv"a\\b+c/é@1',
    "HAIER_PASSWORD": 'Pw8Kd3Lm@a+b/c="d"2',
    "HAIER_SELLER_PASSWORD": "Sp9Ht4Rn@a+b/c\\3",
    "HAIER_CUSTOMER_PASSWORD": "Cp4Wz5Qb@a+b/ö'4",
    "YLH_CLIENT_SECRET": 'Ys5Gx6Vt@a+b/c"5',
    "YLH_PASSWORD": "Hq7Lm2Zp@a+b/c=&6",
    "HAIER_CALLBACK_SECRET": "Cb3Nf7Yk@a+b/c7",
}
QUERY_SECRET = "Qs2Tp8Dj@a+b/c8"
USERINFO_SECRET = "Ui6Bw9Ec-a+b9"
CORE_CHARS = 8


def spellings(secret: str) -> set[str]:
    """Every way the sweep looks for a secret: its core, and the whole in every encoding."""
    raw = secret.encode("utf-8")
    return {
        secret[:CORE_CHARS],
        secret,
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),  # as requests re-quotes a URL: "/" left as it is
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def all_spellings() -> dict[str, str]:
    """spelling -> the variable whose secret it spells."""
    secrets = {**SECRETS, "query string": QUERY_SECRET, "URL user-info": USERINFO_SECRET}
    return {form: name for name, secret in secrets.items() for form in spellings(secret)}


def leaks(text: bytes | str) -> list[str]:
    """Which secrets (by variable) ``text`` holds in some spelling, and in which."""
    data = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
    return sorted(
        f"{name} as {form!r}"
        for form, name in all_spellings().items()
        if form.encode("utf-8") in data
    )


def leaks_in_files(*folders: Path) -> dict[str, list[str]]:
    """Every file under ``folders`` that holds a secret, with the secrets it holds."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and (hits := leaks(path.read_bytes())):
                found[str(path)] = hits
    return found


@dataclass
class EchoGateway:
    """A loopback gateway that answers every POST with 502 and the request echoed back."""

    requests: list[bytes] = field(default_factory=list)
    url: str = ""

    @contextmanager
    def running(self) -> Iterator[EchoGateway]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                gateway.requests.append(body)
                # The body first, as the gateway of issue 15 did: within any excerpt.
                echo = body + f"\n{self.requestline}\n{self.headers}".encode()
                self.send_response(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(echo)))
                self.end_headers()
                self.wfile.write(echo)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def job_env(kind: str, data: Path, gateway: str = UNREACHABLE) -> dict[str, str]:
    """The whole environment of a job meeting failure ``kind``; ``gateway`` for ``echo``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HAIER_", "YLH_"))}
    if "HAIER_BUDGET_DIR" in os.environ:
        base["HAIER_BUDGET_DIR"] = os.environ["HAIER_BUDGET_DIR"]
    url = gateway if kind == "echo" else UNREACHABLE
    settings = {
        "HAIER_BASE_URL": url,
        "HAIER_TOKEN_URL": f"{url}/oauth2/auth",
        "YLH_BASE_URL": f"{url}/ylh",
        "YLH_AUTH_URL": f"{url}/ylh/ylh-cloud-mgt-auth/oauth/token",
        "HAIER_CLIENT_ID": "sweep-client",
        "HAIER_CUSTOMER_CODE": "8800633175",
        "HAIER_COUNTY_CODES": "110101",
        "HAIER_PRODUCT_CODES": PRODUCT,
        "YLH_CLIENT_ID": "sweep-ylh-client",
        "YLH_USERNAME": "sweep-user",
        "HAIER_SOURCE_SYSTEM": "SWEEP",
        "HAIER_SHOP_NAME": "Sweep shop",
        "HAIER_CALLBACK_APP_KEY": "sweep-app",
        "HAIER_TIMEOUT_S": "1",
        "HAIER_ORDER_SETTLE_S": "0",
        "HAIER_DUCKDB_PATH": str(data / "haier.duckdb"),
        "HAIER_ORDER_INBOX": str(data / "orders" / "inbox"),
        "HAIER_CALLBACK_SPOOL": str(data / "callbacks"),
        **SECRETS,
    }
    if kind == "unreachable":
        settings["HAIER_TOKEN_URL"] += f"?client_secret={urllib.parse.quote(QUERY_SECRET)}"
        settings["YLH_AUTH_URL"] += f"?password={urllib.parse.quote(QUERY_SECRET)}"
    if kind == "invalid":
        bad = f"ftp://shop:{USERINFO_SECRET}@gateway.example/oauth2/auth?client_secret="
        settings["HAIER_TOKEN_URL"] = bad + QUERY_SECRET
        settings["YLH_AUTH_URL"] = bad + QUERY_SECRET
    return base | settings


def seed(data: Path) -> None:
    """What makes every job call the gateway: a catalog (push_orders validates against it),
    an order file waiting, and a pushed order not yet delivered (track_logistics)."""
    inbox = data / "orders" / "inbox"
    inbox.mkdir(parents=True)
    warehouse = Warehouse(data / "haier.duckdb")
    now = utcnow()
    with warehouse.transaction() as con:
        rows = [{"product_code": PRODUCT, "is_procurable": True, "synced_at": now}]
        upsert(con, PRODUCTS, PRODUCTS.to_arrow(rows))
        facts = db.OrderFacts("SO-SWEEP-PUSHED", "SO-SWEEP-PUSHED.json")
        db.save_order(con, facts, db.PUSHED, now, retail_order_no="SO.20250430.000001")
    write_order_file(inbox, make_order_dict("SO-SWEEP-NEW", ((PRODUCT, 1, "1999.00"),)))
