"""Fixtures for the sandbox tests: a running sandbox and a tiny hand-written client for it.

The client here is deliberately naive (plain ``requests``, no retries) so that every fault the
sandbox injects reaches the test unfiltered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.protocol import JSH_PATHS, YLH_PATHS


class Caller:
    """Builds correct request bodies for the sandbox's account and sends them."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.account = sandbox.account
        self.session = requests.Session()
        self._jsh_token: str | None = None
        self._ylh_token: str | None = None

    def jsh_token(self) -> str:
        a = self.account
        body = {
            "client_id": a.client_id,
            "client_secret": a.client_secret,
            "grant_type": "client_credentials",
        }
        response = self.session.post(f"{self.sandbox.base_url}/oauth2/auth", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def ylh_token(self) -> str:
        a = self.account
        response = self.session.post(
            self.sandbox.ylh_auth_url,
            auth=(a.ylh_client_id, a.ylh_client_secret),
            headers={"system-name": "ylh-open-api"},
            data={"grant_type": "password", "username": a.ylh_username, "password": a.ylh_password},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def jsh(self, endpoint: str, body: Any, *, token: str | None = None, **kw: Any) -> Any:
        if token is None:
            self._jsh_token = self._jsh_token or self.jsh_token()
            token = self._jsh_token
        url = self.sandbox.base_url + JSH_PATHS[endpoint]
        headers = {"Authorization": f"Bearer {token}"}
        return self.session.post(url, json=body, headers=headers, timeout=kw.pop("timeout", 5))

    def ylh(self, endpoint: str, body: Any, *, token: str | None = None) -> Any:
        if token is None:
            self._ylh_token = self._ylh_token or self.ylh_token()
            token = self._ylh_token
        url = self.sandbox.ylh_base_url + YLH_PATHS[endpoint]
        headers = {"Authorization": f"Bearer {token}"}
        return self.session.post(url, json=body, headers=headers, timeout=5)

    def products_body(self, codes: list[str] | None = None, **changes: Any) -> dict[str, Any]:
        a = self.account
        body = {
            "customerCode": a.customer_code,
            "sendToCode": a.send_to_code,
            "supplierCode": "1001",
            "searchType": "PTJSH",
            "passWord": a.password,
        }
        if codes is not None:
            body["productCodes"] = codes
        return body | changes

    def prices_body(self, codes: list[str], **changes: Any) -> dict[str, Any]:
        a = self.account
        body = {
            "customerCode": a.customer_code,
            "sendToCode": a.send_to_code,
            "productCodes": codes,
            "priceType": "PT",
            "passWord": a.password,
        }
        return body | changes

    def stock_body(self, code: str, county: str = "110101", **changes: Any) -> dict[str, Any]:
        a = self.account
        body = {
            "salesCode": a.customer_code,
            "senderCode": a.send_to_code,
            "productCode": code,
            "countyCode": county,
            "source": "JSH-B",
            "sellerPassword": a.seller_password,
        }
        return body | changes

    def order_body(self, so_id: str, **changes: Any) -> dict[str, Any]:
        """A valid order for two priced, procurable products."""
        first, second = [p for p in self.sandbox.catalog if p.procurable and p.has_price][:2]
        items = [
            {
                "productCode": first.code,
                "itemQty": 2,
                "retailPrice": "1999.00",
                "discountAmount": "100.00",
                "actualPrice": "1899.00",
            },
            {
                "productCode": second.code,
                "itemQty": 1,
                "retailPrice": "599.50",
                "discountAmount": 0,
                "actualPrice": "599.50",
                "isGift": False,
            },
        ]
        body = {
            "sourceSystem": self.account.source_system,
            "shopName": self.account.shop_name,
            "sellerCode": self.account.customer_code,
            "consigneeName": "张三",
            "consigneeMobile": "13800000000",
            "onlineNo": f"ONLINE-{so_id}",
            "soId": so_id,
            "totalQty": 3,
            "totalAmt": "4397.50",
            "createTime": 1_760_000_000_000,
            "province": "山东省",
            "city": "青岛市",
            "area": "市南区",
            "detailAddress": "香港中路1号",
            "deliveryInstall": "false",
            "itemList": items,
        }
        return body | changes


def decimal_json(response: requests.Response) -> Any:
    """Parse an answer the way a correct client must: fractions as Decimal, never float."""
    return json.loads(response.content.decode("utf-8"), parse_float=Decimal)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(size=300, seed=7, rate_limit=0) as server:
        yield server
        assert server.stats()["internal_errors"] == 0, "the sandbox hit a bug; see stderr"


@pytest.fixture
def caller(sandbox: SandboxServer) -> Iterator[Caller]:
    client = Caller(sandbox)
    yield client
    client.session.close()
