"""JSH endpoints 2.1-2.3 and 2.5 over real HTTP: records, envelope, 400s, business failures."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from haier_pipeline.sandbox.protocol import JSH_PATHS
from haier_pipeline_tests.sandbox.conftest import decimal_json


def _ok_data(response):
    assert response.status_code == 200, response.text
    body = decimal_json(response)
    assert body["success"] is True and body["code"] == "200", body
    return body["data"]


def _business_failure(response, code: str) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code, body
    return body


def _bad_request(response, *words: str) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()["message"]
    for word in words:
        assert word in message
    return message


def test_products_by_code_with_chinese_text_unchanged(caller) -> None:
    product = next(p for p in caller.sandbox.catalog if p.procurable)
    response = caller.jsh("products", caller.products_body([product.code]))
    assert product.group.encode("utf-8") in response.content  # not \\u-escaped
    [record] = _ok_data(response)
    assert record == {
        "productCode": product.code,
        "productModel": product.model,
        "productGroupNamd": product.group,
        "productBrandName": product.brand,
        "productImageUrl": product.image_url,
        "productLageUrls": product.leaflet_urls,
        "isSales": "1",
    }


def test_unprocurable_and_unknown_codes_come_back_with_a_reason(caller) -> None:
    blocked = next(p for p in caller.sandbox.catalog if not p.procurable)
    records = _ok_data(caller.jsh("products", caller.products_body([blocked.code, "ZZZZZZZZ9"])))
    assert records[0]["isSales"] == "0"
    assert records[0]["noSalesReason"] == blocked.not_procurable_reason
    assert records[1] == {
        "productCode": "ZZZZZZZZ9",
        "isSales": "0",
        "noSalesReason": "商品编码不存在",
    }


def test_no_codes_means_the_whole_procurable_catalog(caller) -> None:
    expected = {p.code for p in caller.sandbox.catalog if p.procurable}
    for body in (caller.products_body(), caller.products_body([])):
        records = _ok_data(caller.jsh("products", body))
        assert {r["productCode"] for r in records} == expected
        assert len(records) == len(expected)
    stats = caller.sandbox.stats()
    assert stats["full_catalog_calls"] == 2 and stats["product_codes"]["products"] == []


def test_products_parameter_errors_are_400(caller) -> None:
    codes = caller.sandbox.catalog.codes
    _bad_request(caller.jsh("products", caller.products_body(codes[:21])), "productCodes", "20")
    _bad_request(caller.jsh("products", caller.products_body(["ga0szc00u"])), "productCodes[0]")
    _bad_request(caller.jsh("products", caller.products_body(["TOOLONGCODE"])), "product code")
    _bad_request(caller.jsh("products", caller.products_body(codes[:1], sendToCode=None)), "1001")
    _bad_request(caller.jsh("products", caller.products_body(codes[:1], passWord="")), "passWord")
    _bad_request(caller.jsh("products", caller.products_body(codes[:1], searchType="X")))
    assert caller.sandbox.stats()["served"] == {}


def test_products_business_failures(caller) -> None:
    codes = caller.sandbox.catalog.codes[:1]
    _business_failure(
        caller.jsh("products", caller.products_body(codes, passWord="wrong")), "PASSWORD_WRONG"
    )
    _business_failure(
        caller.jsh("products", caller.products_body(codes, customerCode="1")), "CUSTOMER_NOT_FOUND"
    )
    customer_as_ship_to = caller.products_body(codes, sendToCode=caller.account.customer_code)
    _business_failure(caller.jsh("products", customer_as_ship_to), "SEND_TO_NOT_FOUND")


def test_twenty_codes_are_fine_and_counted(caller) -> None:
    codes = caller.sandbox.catalog.codes[:20]
    assert len(_ok_data(caller.jsh("products", caller.products_body(codes)))) == 20
    assert caller.sandbox.stats()["product_codes"]["products"] == codes


def test_prices_are_exact_decimals_following_the_formula(caller) -> None:
    catalog = caller.sandbox.catalog
    priced = [p for p in catalog if p.procurable and p.has_price]
    as_text = [p for p in priced if p.money_as_text][:10]
    as_number = [p for p in priced if not p.money_as_text][:10]
    records = _ok_data(caller.jsh("prices", caller.prices_body([p.code for p in as_text])))
    records += _ok_data(caller.jsh("prices", caller.prices_body([p.code for p in as_number])))
    for product, record in zip(as_text + as_number, records, strict=True):
        assert record["productCode"] == product.code and record["isSales"] == "1"
        kind = str if product.money_as_text else Decimal
        assert isinstance(record["supplyPrice"], kind)
        supply, rate = Decimal(record["supplyPrice"]), Decimal(record["stockRebatePolicy"])
        invoice = supply * (1 - rate) - Decimal(record["rebateMoney"])
        assert Decimal(record["invoicePrice"]) == invoice.quantize(Decimal("0.01"))
        assert supply == product.supply_price
        assert supply.as_tuple().exponent == -2  # written digit for digit, never via float
        assert record["rebatePolicyType"] in {"COM", "FHQ", "BF", "DTDBF"}
    assert any(isinstance(r["invoicePrice"], Decimal) for r in records)


def test_prices_of_unpriced_unprocurable_and_unknown_products(caller) -> None:
    catalog = caller.sandbox.catalog
    unpriced = [p for p in catalog if p.procurable and not p.has_price]
    absent = next(p for p in unpriced if p.price_key_absent)
    null = next(p for p in unpriced if not p.price_key_absent)
    blocked = next(p for p in catalog if not p.procurable)
    codes = [absent.code, null.code, blocked.code, "UNKNOWN99"]
    records = _ok_data(caller.jsh("prices", caller.prices_body(codes)))
    assert [r["productCode"] for r in records] == codes
    assert "supplyPrice" not in records[0] and records[0]["reason"] == "价格未生效"
    assert records[1]["supplyPrice"] is None and records[1]["reason"] == "价格未生效"
    assert records[2]["isSales"] == "0" and records[2]["reason"] == "商品暂不可采"
    assert records[3]["isSales"] == "0" and records[3]["reason"] == "商品暂不可采"


def test_prices_need_one_to_twenty_codes(caller) -> None:
    codes = caller.sandbox.catalog.codes
    _bad_request(caller.jsh("prices", caller.prices_body([])), "productCodes")
    _bad_request(caller.jsh("prices", caller.prices_body(codes[:21])), "at most 20")
    _business_failure(
        caller.jsh("prices", caller.prices_body(codes[:1], passWord="x")), "PASSWORD_WRONG"
    )


def test_stock_is_an_object_or_a_list_per_product(caller) -> None:
    catalog = caller.sandbox.catalog
    single = next(p for p in catalog if not p.stock_as_list)
    double = next(p for p in catalog if p.stock_as_list)
    one = _ok_data(caller.jsh("stock", caller.stock_body(single.code)))
    assert set(one) == {"secCode", "stock", "warehouseGrade", "timelinessData"}
    assert one["stock"] == str(catalog.stock(single.code, "110101")[0].qty)
    assert set(one["timelinessData"]) == {"cutTime", "achieveUserOrderCut", "hour", "isTranfer"}
    two = _ok_data(caller.jsh("stock", caller.stock_body(double.code, "320106")))
    assert [w["warehouseGrade"] for w in two] == ["0", "1"]
    assert caller.sandbox.stats()["stock_queries"] == [
        [single.code, "110101"],
        [double.code, "320106"],
    ]


def test_stock_is_deterministic_and_any_six_digit_county_works(caller) -> None:
    code = caller.sandbox.catalog.codes[3]
    first = _ok_data(caller.jsh("stock", caller.stock_body(code, "440305")))
    assert _ok_data(caller.jsh("stock", caller.stock_body(code, "440305"))) == first
    answers = [
        _ok_data(caller.jsh("stock", caller.stock_body(code, f"{c}0101"))) for c in range(11, 21)
    ]
    assert len({str(a) for a in answers}) > 1


def test_stock_parameter_errors_and_failures(caller) -> None:
    code = caller.sandbox.catalog.codes[0]
    for county in ("11010", "1101011", "ABCDEF"):
        _bad_request(caller.jsh("stock", caller.stock_body(code, county)), "countyCode", "6-digit")
    _bad_request(caller.jsh("stock", caller.stock_body("bad")), "productCode")
    _bad_request(caller.jsh("stock", caller.stock_body(code, source="JSH")), "JSH-B")
    account_password = caller.stock_body(code, sellerPassword=caller.account.password)
    _business_failure(caller.jsh("stock", account_password), "PASSWORD_WRONG")
    _business_failure(caller.jsh("stock", caller.stock_body("UNKNOWN99")), "PRODUCT_NOT_FOUND")


def test_balance_is_a_list_of_decimal_balances(caller) -> None:
    a = caller.account
    body = {"customerCode": a.customer_code, "customerPassword": a.customer_password}
    groups = _ok_data(caller.jsh("balance", body))
    assert 1 <= len(groups) <= 2
    for group in groups:
        assert group["payerAccountCode"] == a.customer_code
        assert isinstance(group["payerAccountBalance"], Decimal | str)
        assert Decimal(group["payerAccountBalance"]).as_tuple().exponent == -2
    assert _ok_data(caller.jsh("balance", body)) == groups
    wrong = {"customerCode": a.customer_code, "customerPassword": a.password}
    _business_failure(caller.jsh("balance", wrong), "PASSWORD_WRONG")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object_are_400(caller, body: bytes) -> None:
    response = caller.session.post(
        caller.sandbox.base_url + JSH_PATHS["prices"],
        data=body,
        headers={"Authorization": caller.jsh_token(), "Content-Type": "application/json"},
        timeout=5,
    )
    _bad_request(response, "prices request")


def test_unknown_path_is_404_and_get_is_405(caller) -> None:
    base = caller.sandbox.base_url
    assert requests.post(base + "/yilihuo/nothing-here", json={}, timeout=5).status_code == 404
    answer = requests.get(base + JSH_PATHS["prices"], timeout=5)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
