"""Both clients against the bundled sandbox: every endpoint, and each fault the gateway injects.

The sandbox counts what it sent (429s, 5xx, drops, HTML, revocations); the tests compare those
counts with the client's own statistics, so a retry that did not happen cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from haier_pipeline.haier.errors import (
    HaierAuthError,
    HaierBusinessError,
    HaierError,
    HaierProtocolError,
)
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.retry import RetryPolicy
from haier_pipeline.haier.ylh import SHANGHAI, YlhClient
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.sandbox.server import SandboxServer

# The sandbox sends Retry-After: 1; tests other than the 429 test do not wait that long.
QUICK = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=0.05)
COUNTY = "110101"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(size=200, seed=7) as server:
        yield server


@pytest.fixture
def jsh(sandbox: SandboxServer) -> Iterator[JshClient]:
    with JshClient(sandbox.jsh_settings(), retry=QUICK) as client:
        yield client


@pytest.fixture
def ylh(sandbox: SandboxServer) -> Iterator[YlhClient]:
    with YlhClient(sandbox.ylh_settings(), retry=QUICK) as client:
        yield client


def priced_codes(sandbox: SandboxServer, n: int = 20) -> list[str]:
    return [p.code for p in sandbox.catalog if p.procurable and p.has_price][:n]


def order(sandbox: SandboxServer, so_id: str) -> dict[str, Any]:
    first, second = priced_codes(sandbox, 2)
    a = sandbox.account
    return {
        "sourceSystem": a.source_system,
        "shopName": a.shop_name,
        "sellerCode": a.customer_code,
        "consigneeName": "张三",
        "consigneeMobile": "13800000000",
        "onlineNo": f"ONLINE-{so_id}",
        "soId": so_id,
        "totalQty": 3,
        "totalAmt": Decimal("4397.50"),
        "createTime": 1_760_000_000_000,
        "province": "山东省",
        "city": "青岛市",
        "area": "市南区",
        "detailAddress": "香港中路1号",
        "deliveryInstall": "false",
        "itemList": [
            {
                "productCode": first,
                "itemQty": 2,
                "retailPrice": Decimal("1999.00"),
                "discountAmount": Decimal("100.00"),
                "actualPrice": Decimal("1899.00"),
            },
            {
                "productCode": second,
                "itemQty": 1,
                "retailPrice": Decimal("599.50"),
                "discountAmount": Decimal("0"),
                "actualPrice": Decimal("599.50"),
            },
        ],
    }


# --- every endpoint -----------------------------------------------------------------------


def test_catalog_prices_stock_and_balance(sandbox: SandboxServer, jsh: JshClient) -> None:
    everything = jsh.procurable_products()
    procurable = [p.code for p in sandbox.catalog if p.procurable]
    assert sorted(p.product_code for p in everything.records) == sorted(procurable)
    assert everything.rejected == []

    codes = priced_codes(sandbox)
    prices = jsh.prices(codes)
    assert [p.product_code for p in prices.records] == codes
    for price in prices.records:
        product = sandbox.catalog.get(price.product_code)
        assert price.supply_price == product.supply_price  # exact, whether sent as text or number
        assert price.invoice_price == product.invoice_price
        assert isinstance(price.direct_discount_rate, Decimal)

    levels = jsh.stock(codes[0], COUNTY)
    assert levels.records and all(s.stock_qty >= 0 for s in levels.records)
    expected = sorted(level.qty for level in sandbox.catalog.stock(codes[0], COUNTY))
    assert sorted(s.stock_qty for s in levels.records) == expected

    balances = jsh.balance().records
    assert balances and all(isinstance(b.balance, Decimal) for b in balances)


def test_products_by_code_include_unknown_codes(sandbox: SandboxServer, jsh: JshClient) -> None:
    known = priced_codes(sandbox, 1)[0]
    result = jsh.procurable_products([known, "ZZZZZZZZ9"])
    by_code = {p.product_code: p for p in result.records}
    assert by_code[known].is_procurable is True
    assert by_code["ZZZZZZZZ9"].is_procurable is False
    assert by_code["ZZZZZZZZ9"].not_procurable_reason


def test_order_lifecycle(sandbox: SandboxServer, ylh: YlhClient, jsh: JshClient) -> None:
    pushed = ylh.create_order(order(sandbox, "SO-INT-1"))
    assert pushed.duplicate is False
    stored = sandbox.orders["SO-INT-1"]
    assert stored["retailOrderNo"] == pushed.retail_order_no
    assert Decimal(str(stored["request"]["totalAmt"])) == Decimal("4397.50")

    again = ylh.create_order(order(sandbox, "SO-INT-1"))
    assert (again.retail_order_no, again.duplicate) == (pushed.retail_order_no, True)
    assert len(sandbox.orders) == 1

    day_end = datetime(2030, 5, 1, 23, 59, 59, tzinfo=SHANGHAI)
    ylh.reschedule(pushed.retail_order_no, distribution_time=day_end, install_time=day_end)

    for _ in range(4):  # CREATED -> ... -> INSTALLED
        sandbox.advance_logistics("SO-INT-1")
    events = jsh.logistics(pushed.retail_order_no, sandbox.account.customer_code)
    assert events.rejected == []
    assert {e.status for e in events.records} >= {"DELIVERED"}
    assert all(e.status_time.tzinfo is not None for e in events.records)
    assert ylh.delivery_images(pushed.retail_order_no)
    numbers = ylh.logistics_numbers([pushed.retail_order_no])
    assert numbers.rejected == []
    assert {n.order_code for n in numbers.records} == {pushed.retail_order_no}

    ylh.create_order(order(sandbox, "SO-INT-2"))
    ylh.cancel_order("SO-INT-2", datetime.now(SHANGHAI), "客户取消", sandbox.account.source_system)
    assert sandbox.orders["SO-INT-2"]["cancelled"] is True


def test_amount_mismatch_is_a_business_error(sandbox: SandboxServer, ylh: YlhClient) -> None:
    with pytest.raises(HaierBusinessError) as caught:
        ylh.create_order(order(sandbox, "SO-INT-3") | {"totalAmt": Decimal("4397.49")})
    assert caught.value.code == "AMOUNT_MISMATCH"


def test_wrong_credentials(sandbox: SandboxServer) -> None:
    settings = sandbox.jsh_settings(client_secret="not-the-secret")
    with JshClient(settings, retry=QUICK) as jsh, pytest.raises(HaierAuthError) as caught:
        jsh.balance()
    assert "HAIER_CLIENT_SECRET" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    ylh_settings = sandbox.ylh_settings(password="wrong")
    with YlhClient(ylh_settings, retry=QUICK) as ylh, pytest.raises(HaierAuthError, match="YLH_"):
        ylh.delivery_images("SO.1")


def test_wrong_password_is_a_business_error(sandbox: SandboxServer) -> None:
    with JshClient(sandbox.jsh_settings(password="nope"), retry=QUICK) as jsh:
        with pytest.raises(HaierBusinessError) as caught:
            jsh.prices(priced_codes(sandbox, 1))
        assert caught.value.code == "PASSWORD_WRONG"
        assert jsh.stats.retries == 0


def test_token_fallback_path() -> None:
    with (
        SandboxServer(size=20, seed=3, jsh_token_paths=("/oauth2/token",)) as only_fallback,
        JshClient(only_fallback.jsh_settings(), retry=QUICK) as jsh,
    ):
        assert jsh.balance().records


# --- malformed records ----------------------------------------------------------------------


def test_malformed_records_are_rejected_and_the_rest_kept(
    sandbox: SandboxServer, jsh: JshClient
) -> None:
    broken = FaultConfig.malformed_sample(sandbox.catalog, 3, seed=1)
    sandbox.faults = FaultConfig(malformed_codes=broken)
    products = jsh.procurable_products()
    assert len(products.rejected) == 3
    assert len(products.records) == sum(p.procurable for p in sandbox.catalog) - 3
    assert all(r.kind == "product" and r.raw.startswith("{") for r in products.rejected)

    codes = sorted(broken) + [c for c in priced_codes(sandbox) if c not in broken][:5]
    prices = jsh.prices(codes)
    assert sorted(r.key for r in prices.rejected) == sorted(broken)
    assert all('supplyPrice (supply_price) = "abc"' in r.reason for r in prices.rejected)
    assert len(prices.records) == 5

    stock = jsh.stock(sorted(broken)[0], COUNTY)
    assert stock.records == []
    assert all('"N/A"' in r.reason for r in stock.rejected)


# --- faults -----------------------------------------------------------------------------------


def test_server_errors_are_retried_to_success(sandbox: SandboxServer, jsh: JshClient) -> None:
    jsh.balance()  # token first, so every injected error lands on an API call
    sandbox.faults = FaultConfig(error_rate=0.3, seed=11)
    for _ in range(20):
        assert jsh.balance().records
    sent = sandbox.stats()
    assert sent["sent_5xx"] > 0
    assert jsh.stats.http_5xx == sent["sent_5xx"]
    assert jsh.stats.retries == sent["sent_5xx"]


def test_429_bursts_are_waited_out(sandbox: SandboxServer) -> None:
    patient = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05)
    with JshClient(sandbox.jsh_settings(), retry=patient) as jsh:
        jsh.balance()
        sandbox.faults = FaultConfig(burst_429_every=4, burst_429_length=1)
        started = time.monotonic()
        for _ in range(4):
            jsh.balance()
        assert jsh.stats.http_429 == sandbox.stats()["sent_429"] == 1
        assert time.monotonic() - started >= 1.0  # the sandbox's Retry-After: 1


def test_dropped_connections_are_retried(sandbox: SandboxServer, jsh: JshClient) -> None:
    jsh.balance()
    sandbox.faults = FaultConfig(drop_rate=0.3, seed=5)
    for _ in range(15):
        assert jsh.balance().records
    assert jsh.stats.dropped == sandbox.stats()["drops"] > 0


def test_slow_answers_time_out_and_are_retried(sandbox: SandboxServer) -> None:
    settings = sandbox.jsh_settings(timeout_s=0.25)
    with JshClient(settings, retry=QUICK) as jsh:
        jsh.balance()
        sandbox.faults = FaultConfig(slow_rate=0.3, slow_s=0.4, seed=2)
        for _ in range(8):
            assert jsh.balance().records
        assert jsh.stats.timeouts == sandbox.stats()["slow_answers"] > 0


def test_token_revocation_costs_one_refresh_and_one_retry(
    sandbox: SandboxServer, jsh: JshClient
) -> None:
    jsh.balance()
    sandbox.faults = FaultConfig(revoke_tokens_every=4)
    for _ in range(20):
        assert jsh.balance().records
    sent = sandbox.stats()
    assert sent["sent_401"] > 0
    assert jsh.stats.token_refreshes == sent["sent_401"]  # one refresh per refused token
    assert sent["tokens_issued"] == 1 + sent["sent_401"]


def test_html_pages_are_retried_then_reported(sandbox: SandboxServer, jsh: JshClient) -> None:
    jsh.balance()
    sandbox.faults = FaultConfig(html_rate=0.3, seed=4)
    for _ in range(10):
        assert jsh.balance().records
    assert jsh.stats.non_json == sandbox.stats()["html_sent"] > 0
    sandbox.faults = FaultConfig(html_rate=1.0)
    with pytest.raises(HaierProtocolError, match=r"not JSON \(4 attempts in a row\)"):
        jsh.balance()


def test_secrets_never_reach_the_log_in_a_fault_storm(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults = FaultConfig(
        error_rate=0.2, drop_rate=0.1, html_rate=0.1, revoke_tokens_every=5, seed=9
    )
    code = priced_codes(sandbox, 1)[0]
    # Some calls may fail in this storm; what is checked is what reached the log.
    with JshClient(sandbox.jsh_settings(), retry=QUICK) as jsh:
        for _ in range(15):
            with contextlib.suppress(HaierError):
                jsh.stock(code, COUNTY)
    with YlhClient(sandbox.ylh_settings(), retry=QUICK) as ylh, contextlib.suppress(HaierError):
        ylh.create_order(order(sandbox, "SO-LOG"))
    assert "retry" in caplog.text
    assert "refused the access token" in caplog.text
    secrets = [*sandbox.jsh_settings().secrets(), *sandbox.ylh_settings().secrets()]
    assert all(secret not in caplog.text for secret in secrets)
    assert "Bearer " not in caplog.text.replace("Bearer ***", "")


def test_200_stock_calls_from_32_threads_earn_no_429(sandbox: SandboxServer) -> None:
    assert sandbox.rate_limit == 100
    settings = dataclasses.replace(sandbox.jsh_settings(), rate_limit=100.0)
    codes = priced_codes(sandbox, 50)
    with JshClient(settings, max_workers=32, retry=QUICK) as jsh:
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda n: jsh.stock(codes[n % 50], COUNTY), range(200)))
        assert all(r.records for r in results)
        assert jsh.stats.http_429 == 0
        assert jsh.stats.retries == 0
    assert sandbox.stats()["sent_429"] == 0
