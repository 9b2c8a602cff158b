"""Parsing of every record kind: good records exact, bad records rejected with a clear reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from haier_pipeline.haier import jsonio, records


def loads(text: str) -> list:
    return jsonio.loads(text)


PRODUCT = {
    "productCode": "GA0SZC00U",
    "productModel": "EC6001-HT3",
    "productGroupNamd": "电热水器",
    "productBrandName": "海尔",
    "productImageUrl": "https://img/1.jpg",
    "productLageUrls": ["https://img/a.jpg", "https://img/b.jpg"],
    "isSales": "1",
}


def test_product_maps_every_wire_field() -> None:
    result = records.parse_products([PRODUCT])
    assert result.rejected == []
    assert result.records == [
        records.Product(
            product_code="GA0SZC00U",
            product_model="EC6001-HT3",
            product_group="电热水器",
            brand="海尔",
            image_url="https://img/1.jpg",
            leaflet_urls=("https://img/a.jpg", "https://img/b.jpg"),
            is_procurable=True,
            not_procurable_reason=None,
        )
    ]


def test_unknown_product_is_a_record_not_a_rejection() -> None:
    raw = {"productCode": "ZZ0000000", "isSales": "0", "noSalesReason": "商品编码不存在"}
    (product,) = records.parse_products([raw]).records
    assert product.is_procurable is False
    assert product.not_procurable_reason == "商品编码不存在"
    assert product.leaflet_urls == ()
    assert product.product_model is None


@pytest.mark.parametrize(
    ("change", "expected_in_reason"),
    [
        ({"productCode": None}, "field productCode (product_code) is missing"),
        ({"productCode": "  "}, "field productCode (product_code) is missing"),
        ({"productCode": 12345}, "productCode (product_code) = 12345 is a number, expected text"),
        ({"productLageUrls": "https://img/a.jpg,https://img/b.jpg"}, "is text, expected a list"),
        ({"productLageUrls": ["ok", 3]}, "has item 1 that is not non-blank text"),
        ({"isSales": "Y"}, 'isSales (is_procurable) = "Y" is not a flag'),
        ({"isSales": 2}, "is not a flag"),
    ],
)
def test_malformed_product_is_rejected_with_field_value_and_record(
    change: dict, expected_in_reason: str
) -> None:
    good = dict(PRODUCT, productCode="BS01U000N")
    bad = dict(PRODUCT) | change
    result = records.parse_products([good, bad])
    assert [p.product_code for p in result.records] == ["BS01U000N"]
    (rejected,) = result.rejected
    assert rejected.kind == "product"
    assert expected_in_reason in rejected.reason
    assert json.loads(rejected.raw) == json.loads(json.dumps(bad))


def test_missing_code_rejection_has_no_key_and_says_so() -> None:
    bad = {k: v for k, v in PRODUCT.items() if k != "productCode"}
    (rejected,) = records.parse_products([bad]).rejected
    assert rejected.key is None
    assert rejected.reason.startswith("product record (without key) skipped")


def test_record_that_is_not_an_object_is_rejected() -> None:
    result = records.parse_products(["GA0SZC00U", None])
    assert result.records == []
    assert [r.raw for r in result.rejected] == ['"GA0SZC00U"', "null"]
    assert "the record is text, expected an object" in result.rejected[0].reason


def test_every_problem_of_a_record_is_named() -> None:
    bad = dict(PRODUCT, isSales="x", productLageUrls="a")
    (rejected,) = records.parse_products([bad]).rejected
    assert "isSales" in rejected.reason
    assert "productLageUrls" in rejected.reason


def test_prices_parse_money_exactly_from_numbers_and_text() -> None:
    text = """[{"productCode": "GA0SZC00U", "supplyPrice": 1999.10, "invoicePrice": "1879.154",
                "stockRebatePolicy": 0.05, "rebateMoney": "20", "rebatePolicyType": "COM",
                "isSales": "1"},
               {"productCode": "BS01U000N", "supplyPrice": 12345678901234567.89,
                "invoicePrice": 0.1, "stockRebatePolicy": 0, "rebateMoney": 0, "isSales": 1}]"""
    first, second = records.parse_prices(loads(text)).records
    assert first.supply_price == Decimal("1999.10")
    assert str(first.supply_price) == "1999.10"  # the scale is kept, not just the value
    assert first.invoice_price == Decimal("1879.154")
    assert first.direct_discount_rate == Decimal("0.05")
    assert first.rebate_money == Decimal("20")
    assert first.rebate_type == "COM"
    assert second.supply_price == Decimal("12345678901234567.89")  # float would lose the cents
    assert second.invoice_price == Decimal("0.1")
    assert second.is_procurable is True


def test_price_not_in_force_is_none_not_zero() -> None:
    raw = {"productCode": "GA0SZC00U", "supplyPrice": None, "isSales": "1", "reason": "价格未生效"}
    (price,) = records.parse_prices([raw]).records
    assert price.supply_price is None
    assert price.invoice_price is None
    assert price.price_note == "价格未生效"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("supplyPrice", '"abc"', 'supplyPrice (supply_price) = "abc" is not a decimal number'),
        ("supplyPrice", "NaN", "supplyPrice (supply_price) = NaN is not a finite number"),
        ("invoicePrice", "Infinity", "is not a finite number"),
        ("invoicePrice", '"1,999.00"', "is not a decimal number"),
        ("invoicePrice", '"Infinity"', "is not a decimal number"),
        ("supplyPrice", "-1.00", "is negative"),
        ("supplyPrice", "true", "is a boolean, expected a decimal number"),
        ("stockRebatePolicy", "5", "is not a fraction between 0 and 1"),
        ("rebateMoney", "[1]", "is a list, expected a decimal number"),
    ],
)
def test_malformed_price_is_rejected(field: str, value: str, reason: str) -> None:
    text = f'[{{"productCode": "GA0SZC00U", "isSales": "1", "{field}": {value}}}]'
    result = records.parse_prices(loads(text))
    assert result.records == []
    (rejected,) = result.rejected
    assert rejected.key == "GA0SZC00U"
    assert reason in rejected.reason
    assert f'"{field}": {value}' in rejected.raw  # raw keeps the received text


def test_rejected_raw_keeps_decimal_digits() -> None:
    text = '[{"productCode": "GA0SZC00U", "supplyPrice": 1999.10, "invoicePrice": "x"}]'
    (rejected,) = records.parse_prices(loads(text)).rejected
    assert '"supplyPrice": 1999.10' in rejected.raw


STOCK = {
    "secCode": "C1HB",
    "stock": "12",
    "warehouseGrade": "0",
    "timelinessData": {
        "cutTime": "16:00",
        "achieveUserOrderCut": "2025-05-02",
        "hour": "48",
        "isTranfer": "1",
    },
}


def test_stock_record_reads_nested_timeliness() -> None:
    (level,) = records.parse_stock([STOCK], "GA0SZC00U", "110101").records
    assert level == records.StockLevel(
        product_code="GA0SZC00U",
        county_code="110101",
        stock_qty=12,
        warehouse_code="C1HB",
        warehouse_grade="0",
        cut_time="16:00",
        expected_delivery_date=date(2025, 5, 2),
        delivery_hours=48,
        is_transfer=True,
    )


def test_stock_without_timeliness_is_kept_with_nones() -> None:
    (level,) = records.parse_stock([{"stock": "0"}], "GA0SZC00U", "110101").records
    assert level.stock_qty == 0
    assert level.expected_delivery_date is None
    assert level.is_transfer is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stock": "N/A"}, 'stock (stock_qty) = "N/A" is not a whole number of zero or more'),
        ({"stock": "-3"}, "is not a whole number"),
        ({"stock": "1.5"}, "is not a whole number"),
        ({"stock": "1_000"}, "is not a whole number"),
        ({"stock": None}, "field stock (stock_qty) is missing"),
        ({"timelinessData": "16:00"}, "field timelinessData is text, not an object"),
        (
            {"timelinessData": {"achieveUserOrderCut": "2025-02-30"}},
            'achieveUserOrderCut (expected_delivery_date) = "2025-02-30" is not a real',
        ),
        ({"timelinessData": {"achieveUserOrderCut": "02/05/2025"}}, "is not a date"),
        ({"timelinessData": {"hour": "two days"}}, "hour (delivery_hours)"),
    ],
)
def test_malformed_stock_is_rejected(change: dict, reason: str) -> None:
    result = records.parse_stock([STOCK | change], "GA0SZC00U", "110101")
    assert result.records == []
    (rejected,) = result.rejected
    assert rejected.key == "GA0SZC00U/110101/C1HB"
    assert reason in rejected.reason


def test_timeliness_problem_is_reported_once() -> None:
    (rejected,) = records.parse_stock([STOCK | {"timelinessData": 7}], "A", "110101").rejected
    assert rejected.reason.count("timelinessData") == 1


def test_logistics_events_come_from_all_three_lists() -> None:
    event = {
        "deliveryRecordCode": "SO.20250430.000001.F1",
        "logisticsCompany": "日日顺",
        "logisticsNo": "RRS123",
        "snCode": "SN1",
        "status": "DELIVERED",
        "statusTime": 1746000000123,
        "description": "已送达",
    }
    data = {
        "getAllLogisticsInfoByOrderCode": [event],
        "getStockDeliveryLogisticsRecord": [],
        "getStockDeliveryLogisticsRecordThirdparty": [event | {"statusTime": "1746000000000"}],
    }
    result = records.parse_logistics_events(data, "SO.20250430.000001")
    assert result.rejected == []
    first, second = result.records
    assert first.source == "cloud_warehouse"
    assert second.source == "third_party"
    assert first.status_time == datetime(2025, 4, 30, 8, 0, 0, 123000, tzinfo=UTC)
    assert first.status_time.tzinfo is UTC
    assert first.order_code == "SO.20250430.000001"
    assert first.logistics_company == "日日顺"


def test_logistics_list_that_is_not_a_list_is_rejected_alone() -> None:
    good = {"status": "CREATED", "statusTime": 1746000000000}
    data = {
        "getAllLogisticsInfoByOrderCode": "none",
        "getStockDeliveryLogisticsRecord": [good],
    }
    result = records.parse_logistics_events(data, "SO.1")
    assert len(result.records) == 1
    (rejected,) = result.rejected
    assert "getAllLogisticsInfoByOrderCode" in rejected.reason
    assert rejected.raw == '"none"'


@pytest.mark.parametrize(
    ("time_value", "reason"),
    [
        (1746000000, "outside 2000-2099 (seconds sent as milliseconds?)"),
        ("2025-04-30", "is not milliseconds since the epoch"),
        (None, "statusTime (status_time) is missing"),
    ],
)
def test_bad_event_time_is_rejected(time_value: object, reason: str) -> None:
    data = {"getStockDeliveryLogisticsRecord": [{"status": "CREATED", "statusTime": time_value}]}
    (rejected,) = records.parse_logistics_events(data, "SO.1").rejected
    assert reason in rejected.reason


def test_logistics_numbers_one_record_per_parcel() -> None:
    items = [
        {
            "orderCode": "SO.1",
            "deliveryRecordCode": "SO.1.F1",
            "logisticsList": [
                {"logisticsCompany": "顺丰", "logisticsNo": "SF1", "snCode": "SN1"},
                {"logisticsCompany": "顺丰", "snCode": "SN2"},
            ],
        },
        {"orderCode": "SO.2", "logisticsList": "SF9"},
        {"orderCode": "SO.3", "logisticsList": []},
    ]
    result = records.parse_logistics_numbers(items)
    assert result.records == [records.LogisticsNumber("SO.1", "SO.1.F1", "顺丰", "SF1", "SN1")]
    reasons = sorted(r.reason for r in result.rejected)
    assert len(reasons) == 2
    assert "logisticsNo (logistics_no) is missing" in reasons[0]
    assert 'logisticsList (parcels) = "SF9" is text, expected a list' in reasons[1]


def test_balance_keeps_sign_and_digits() -> None:
    text = """[{"saleGroupCode": "SG10", "saleGroupName": "冰冷", "payerAccountCode": "88",
                "payerAccountName": "某公司", "payerAccountBalance": -12345.60},
               {"saleGroupCode": "SG20", "payerAccountBalance": "4000000.05"},
               {"saleGroupCode": "SG30", "payerAccountBalance": "lots"}]"""
    result = records.parse_balances(loads(text))
    assert [b.balance for b in result.records] == [Decimal("-12345.60"), Decimal("4000000.05")]
    assert result.rejected[0].key == "SG30"
