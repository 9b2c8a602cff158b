"""The baseline: the system the pipeline replaces, one Haier call at a time.

Deliberately naive, as that system was: plain ``requests.post`` (a new connection per call),
a token, every procurable product, then one price call per product and one stock call per
product and county, each waiting for the previous answer. It honours ``Retry-After`` on a 429
so that it finishes, and loads what it fetched into DuckDB in bulk at the end (more kindly
than the old system did: its time is the calls' time, which is the point of the comparison).

Reads the sandbox's environment variables (contract.md names); prints one JSON line:
calls, 429s and ``sync_s`` from the first call to the tables written.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
import requests

from haier_pipeline.haier import endpoints

TIMEOUT_S = 30.0


class NaiveClient:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.base = env["HAIER_BASE_URL"].rstrip("/")
        self.headers: dict[str, str] = {}
        self.calls = 0
        self.http_429 = 0

    def post(self, path: str, body: dict[str, Any]) -> Any:
        while True:
            self.calls += 1
            answer = requests.post(
                self.base + path, json=body, headers=self.headers, timeout=TIMEOUT_S
            )
            if answer.status_code != 429:
                break
            self.http_429 += 1
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        answer.raise_for_status()
        payload = json.loads(answer.content, parse_float=Decimal)
        if isinstance(payload, dict) and payload.get("success") is False:
            raise RuntimeError(f"{path} refused the call: {payload.get('message')}")
        return payload.get("data", payload) if isinstance(payload, dict) else payload

    def login(self) -> None:
        body = {
            "client_id": self.env["HAIER_CLIENT_ID"],
            "client_secret": self.env["HAIER_CLIENT_SECRET"],
            "grant_type": "client_credentials",
        }
        token = self.post("/oauth2/auth", body)["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def products(self) -> list[dict[str, Any]]:
        return self.post(
            endpoints.JSH_PRODUCTS,
            {
                "customerCode": self.env["HAIER_CUSTOMER_CODE"],
                "sendToCode": self.env["HAIER_SEND_TO_CODE"],
                "supplierCode": self.env["HAIER_SUPPLIER_CODE"],
                "searchType": "PTJSH",
                "passWord": self.env["HAIER_PASSWORD"],
            },
        )

    def price(self, code: str) -> dict[str, Any]:
        body = {
            "customerCode": self.env["HAIER_CUSTOMER_CODE"],
            "sendToCode": self.env["HAIER_SEND_TO_CODE"],
            "productCodes": [code],
            "priceType": "PT",
            "passWord": self.env["HAIER_PASSWORD"],
        }
        return self.post(endpoints.JSH_PRICES, body)[0]

    def stock(self, code: str, county: str) -> Any:
        body = {
            "salesCode": self.env["HAIER_CUSTOMER_CODE"],
            "senderCode": self.env["HAIER_SEND_TO_CODE"],
            "productCode": code,
            "countyCode": county,
            "source": "JSH-B",
            "sellerPassword": self.env["HAIER_SELLER_PASSWORD"],
        }
        return self.post(endpoints.JSH_STOCK, body)


def sync(
    client: NaiveClient, limit: int, counties: list[str], db_path: str, started: float
) -> tuple[int, float]:
    """The old loop; returns how many products it covered and the seconds before the first.

    The benchmark runs this on a subset and scales only the per-product part up to the
    whole catalog, so the fixed part (token, catalog call) is timed apart.
    """
    client.login()
    products = [p for p in client.products() if p.get("isSales") == "1"][:limit]
    setup_s = time.monotonic() - started
    codes = [p["productCode"] for p in products]
    prices = [client.price(code) for code in codes]
    stock = [
        {"product_code": code, "county_code": county, "answer": client.stock(code, county)}
        for code in codes
        for county in counties
    ]
    with duckdb.connect(db_path) as con:
        for name, records in (("products", products), ("prices", prices), ("stock", stock)):
            frame = pd.DataFrame({"record": [json.dumps(r, default=str) for r in records]})
            con.register("frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    return len(codes), setup_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, required=True, help="procurable products to do")
    parser.add_argument("--duckdb", required=True, help="DuckDB file to write")
    args = parser.parse_args()
    env = dict(os.environ)
    counties = [c for c in env["HAIER_COUNTY_CODES"].split(",") if c]
    client = NaiveClient(env)
    started = time.monotonic()
    covered, setup_s = sync(client, args.products, counties, args.duckdb, started)
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "products": covered,
                "calls": client.calls,
                "http_429": client.http_429,
                "setup_s": setup_s,
                "sync_s": elapsed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
