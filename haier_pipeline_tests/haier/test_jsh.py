"""JshClient: the request each method sends, the checks made before sending, the answers read."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.errors import HaierProtocolError
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline_tests.haier.stub import (
    FAST_RETRY,
    SECRETS,
    Answer,
    StubServer,
    jsh_settings,
    ok,
)

STOCK_ROW = {"secCode": "C1", "stock": "5", "timelinessData": {"hour": "24"}}


@pytest.fixture
def jsh(stub: StubServer) -> Iterator[JshClient]:
    with JshClient(jsh_settings(stub), retry=FAST_RETRY) as client:
        yield client


def test_all_procurable_products_omits_product_codes(stub: StubServer, jsh: JshClient) -> None:
    stub.script(endpoints.JSH_PRODUCTS, ok([{"productCode": "GA0SZC00U", "isSales": "1"}]))
    assert [p.product_code for p in jsh.procurable_products().records] == ["GA0SZC00U"]
    (request,) = stub.calls(endpoints.JSH_PRODUCTS)
    assert request.json() == {
        "customerCode": "8800633175",
        "sendToCode": "8800633175",  # defaults to the customer code
        "supplierCode": "1001",
        "searchType": "PTJSH",
        "passWord": SECRETS[1],
    }
    assert request.headers["Content-Type"].startswith("application/json")


def test_products_by_code_sends_the_codes(stub: StubServer, jsh: JshClient) -> None:
    stub.script(endpoints.JSH_PRODUCTS, ok([]))
    jsh.procurable_products(["GA0SZC00U", "BS01U000N"])
    assert stub.calls(endpoints.JSH_PRODUCTS)[0].json()["productCodes"] == [
        "GA0SZC00U",
        "BS01U000N",
    ]


def test_more_than_20_codes_are_refused_before_sending(stub: StubServer, jsh: JshClient) -> None:
    codes = [f"GA0SZC{n:03d}" for n in range(21)]
    with pytest.raises(ValueError, match="21 product codes given; Haier accepts at most 20"):
        jsh.procurable_products(codes)
    with pytest.raises(ValueError, match="at most 20"):
        jsh.prices(codes)
    assert stub.requests == []


@pytest.mark.parametrize(
    ("codes", "message"),
    [([], "no product codes"), ("GA0SZC00U", "not the text"), ([" GA0"], "surrounding spaces")],
)
def test_bad_price_codes_are_refused(jsh: JshClient, codes: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jsh.prices(codes)  # type: ignore[arg-type]


def test_prices_request_and_exact_answer(stub: StubServer, jsh: JshClient) -> None:
    stub.script(
        endpoints.JSH_PRICES,
        Answer(
            200,
            b'{"success": true, "data": [{"productCode": "GA0SZC00U", "supplyPrice": 2999.90,'
            b' "invoicePrice": "2829.905", "stockRebatePolicy": 0.05, "rebateMoney": 20,'
            b' "rebatePolicyType": "FHQ", "isSales": "1"}]}',
        ),
    )
    (price,) = jsh.prices(["GA0SZC00U"]).records
    assert price.supply_price == Decimal("2999.90")
    assert price.invoice_price == Decimal("2829.905")
    body = stub.calls(endpoints.JSH_PRICES)[0].json()
    assert body["priceType"] == "PT"
    assert body["productCodes"] == ["GA0SZC00U"]


def test_stock_accepts_an_object_or_a_list(stub: StubServer, jsh: JshClient) -> None:
    stub.script(endpoints.JSH_STOCK, ok(STOCK_ROW), ok([STOCK_ROW, STOCK_ROW | {"secCode": "C2"}]))
    assert len(jsh.stock("GA0SZC00U", "110101").records) == 1
    levels = jsh.stock("GA0SZC00U", "110101").records
    assert [(s.warehouse_code, s.stock_qty) for s in levels] == [("C1", 5), ("C2", 5)]
    assert stub.calls(endpoints.JSH_STOCK)[0].json() == {
        "salesCode": "8800633175",
        "senderCode": "8800633175",
        "productCode": "GA0SZC00U",
        "countyCode": "110101",
        "source": "JSH-B",
        "sellerPassword": SECRETS[2],
    }


def test_stock_with_no_data_is_empty(stub: StubServer, jsh: JshClient) -> None:
    stub.script(endpoints.JSH_STOCK, ok(None))
    assert jsh.stock("GA0SZC00U", "110101").records == []


@pytest.mark.parametrize("county", ["11010", "1101011", "11010a", "", 110101])
def test_county_code_is_checked_before_sending(
    stub: StubServer, jsh: JshClient, county: object
) -> None:
    with pytest.raises(ValueError, match="not a 6-digit county code"):
        jsh.stock("GA0SZC00U", county)  # type: ignore[arg-type]
    assert stub.requests == []


def test_logistics_request_and_empty_answer(stub: StubServer, jsh: JshClient) -> None:
    stub.script(endpoints.JSH_LOGISTICS, ok(None), ok(["not", "an", "object"]))
    assert jsh.logistics("SO.20190106.000003", "8800633175", "SO.20190106.000003.F1").records == []
    assert stub.calls(endpoints.JSH_LOGISTICS)[0].json() == {
        "orderCode": "SO.20190106.000003",
        "deliveryRecordCode": "SO.20190106.000003.F1",
        "sellerCode": "8800633175",
        "sellerPassword": SECRETS[2],
    }
    with pytest.raises(HaierProtocolError, match="not an object of lists"):
        jsh.logistics("SO.20190106.000003", "8800633175")


def test_balance_uses_the_customer_password(stub: StubServer) -> None:
    stub.script(endpoints.JSH_BALANCE, ok({"saleGroupCode": "SG", "payerAccountBalance": 1}))
    settings = jsh_settings(stub, customer_password="balance-Pwd-3")
    with JshClient(settings, retry=FAST_RETRY) as jsh:
        assert jsh.balance().records[0].balance == Decimal(1)
    assert stub.calls(endpoints.JSH_BALANCE)[0].json() == {
        "customerCode": "8800633175",
        "customerPassword": "balance-Pwd-3",
    }


def test_chinese_text_round_trips(stub: StubServer, jsh: JshClient) -> None:
    stub.script(
        endpoints.JSH_PRODUCTS,
        ok([{"productCode": "A", "productGroupNamd": "电热水器", "isSales": "1"}]),
    )
    assert jsh.procurable_products().records[0].product_group == "电热水器"


def test_rejected_records_are_logged(
    stub: StubServer, jsh: JshClient, caplog: pytest.LogCaptureFixture
) -> None:
    stub.script(endpoints.JSH_PRICES, ok([{"productCode": "GA0SZC00U", "supplyPrice": "abc"}]))
    result = jsh.prices(["GA0SZC00U"])
    assert len(result.rejected) == 1
    assert "price record GA0SZC00U skipped" in caplog.text


def test_client_can_be_used_from_many_threads(stub: StubServer) -> None:
    stub.script(endpoints.JSH_STOCK, ok(STOCK_ROW))
    with JshClient(jsh_settings(stub), max_workers=8, retry=FAST_RETRY) as jsh:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: jsh.stock("GA0SZC00U", "110101"), range(40)))
        assert all(len(r.records) == 1 for r in results)
        assert jsh.stats.calls == 41  # one token call, forty stock calls
