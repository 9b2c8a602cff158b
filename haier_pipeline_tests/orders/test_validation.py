import pickle
from decimal import Decimal
from typing import Any

import pytest

from haier_pipeline.orders import (
    InvalidOrder,
    OrderDefaults,
    check_catalog,
    check_stock,
    from_epoch_ms,
    parse_order,
)
from haier_pipeline_tests.orders.factories import CREATE_TIME_MS, DEFAULTS, make_order_dict

TWO_ITEMS = [("GA0SZC00U", 2, "1899.00"), ("BS01U000N", 1, "1299.00")]


def problems_of(raw: Any, defaults: OrderDefaults = DEFAULTS) -> list[str]:
    with pytest.raises(InvalidOrder) as caught:
        parse_order(raw, defaults, source="SO-1.json")
    assert caught.value.source == "SO-1.json"
    return caught.value.problems


def test_valid_order_round_trips_to_the_exact_payload() -> None:
    raw = make_order_dict("SO-1", TWO_ITEMS, remark="工作日送货", governmentOrder=True)
    raw["itemList"][1]["isGift"] = False
    order = parse_order(raw, DEFAULTS, source="SO-1.json")
    assert order.county_code == "110101"
    assert order.create_time == from_epoch_ms(CREATE_TIME_MS)
    assert order.to_ylh_payload() == {
        "sourceSystem": "TEST-SYS",
        "shopName": "测试旗舰店",
        "sellerCode": "8800633175",
        "consigneeName": "张三",
        "consigneeMobile": "13800138000",
        "onlineNo": "ONLINE-SO-1",
        "soId": "SO-1",
        "totalQty": 3,
        "totalAmt": Decimal("5097.00"),
        "createTime": CREATE_TIME_MS,
        "province": "北京市",
        "city": "北京市",
        "area": "东城区",
        "town": "东华门街道",
        "detailAddress": "王府井大街 1 号",
        "deliveryInstall": "false",
        "remark": "工作日送货",
        "governmentOrder": True,
        "itemList": [
            {
                "productCode": "GA0SZC00U",
                "itemQty": 2,
                "retailPrice": Decimal("1899.00"),
                "discountAmount": Decimal("0"),
                "actualPrice": Decimal("1899.00"),
            },
            {
                "productCode": "BS01U000N",
                "itemQty": 1,
                "retailPrice": Decimal("1299.00"),
                "discountAmount": Decimal("0"),
                "actualPrice": Decimal("1299.00"),
                "isGift": False,
            },
        ],
    }


def test_file_values_win_over_configured_defaults() -> None:
    raw = make_order_dict("SO-1", sourceSystem="SHOP-SYS", shopName="卡萨帝店", sellerCode="77")
    payload = parse_order(raw, DEFAULTS, source="f").to_ylh_payload()
    assert (payload["sourceSystem"], payload["shopName"], payload["sellerCode"]) == (
        "SHOP-SYS",
        "卡萨帝店",
        "77",
    )


def test_equal_times_make_a_delivery_install_order() -> None:
    when = CREATE_TIME_MS + 86_400_000
    raw = make_order_dict("SO-1", distributionTime=when, installTime=when, deliveryInstall="true")
    order = parse_order(raw, DEFAULTS, source="f")
    assert order.to_ylh_payload()["deliveryInstall"] == "true"
    assert order.install_time == from_epoch_ms(when)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"soId": 12345}, "soId: 12345 is not text; write the shop's sub-order number"),
        ({"onlineNo": None}, "onlineNo: is missing; add the platform order number"),
        ({"consigneeName": "  "}, "consigneeName: is blank; write the consignee's name"),
        ({"consigneeMobile": "1380013800"}, "consigneeMobile: '1380013800' is malformed; write"),
        ({"consigneeMobile": "23800138000"}, "consigneeMobile: '23800138000' is malformed"),
        ({"consigneeMobile": 13800138000}, "consigneeMobile: 13800138000 is not text"),
        ({"countyCode": "11010"}, "countyCode: '11010' is malformed; write the 6-digit county"),
        ({"countyCode": "１１０１０１"}, "countyCode: '１１０１０１' is malformed"),
        ({"province": ""}, "province: is blank; write the delivery province"),
        ({"city": ["北京"]}, "city: a list is not text; write the delivery city in quotes"),
        ({"area": None}, "area: is missing; add the delivery district"),
        ({"detailAddress": None}, "detailAddress: is missing; add the street address"),
        ({"town": 7}, "town: 7 is not text"),
        ({"totalQty": "1"}, "totalQty: '1' is not a whole number; write the total quantity"),
        ({"totalQty": 0}, "totalQty: 0 is not positive; write the total quantity"),
        ({"totalAmt": "1,999.00"}, "totalAmt: '1,999.00' is not an amount; write the order total"),
        ({"totalAmt": 1999.0}, "totalAmt: 1999.0 is a binary float, which cannot hold money"),
        ({"totalAmt": Decimal("NaN")}, "totalAmt: NaN is not an amount"),
        ({"totalAmt": "-1999.00"}, "totalAmt: -1999.00 is negative; write an amount of 0 or more"),
        ({"totalAmt": "1999.001"}, "totalAmt: 1999.001 has more than 2 decimal places"),
        ({"createTime": 1_746_000_000}, "createTime: 1746000000 is not a time between 2000"),
        ({"createTime": "1746000000000"}, "createTime: '1746000000000' is not an integer"),
        ({"installTime": Decimal("1.7E+12")}, "installTime: 1.7E+12 is not an integer"),
        ({"governmentOrder": "true"}, "governmentOrder: 'true' is not a boolean; write true or"),
        ({"deliveryInstall": "true"}, "deliveryInstall: 'true' contradicts distributionTime"),
        ({"itemList": []}, "itemList: is empty; add at least one item"),
        ({"itemList": None}, "itemList: is missing; add the list of ordered items"),
        ({"itemList": {"productCode": "GA0SZC00U"}}, "itemList: an object is not a list"),
        ({"instalTime": CREATE_TIME_MS}, "instalTime: is not a field of the order format; did you"),
    ],
)
def test_each_order_rule_names_the_field_and_what_to_do(
    overrides: dict[str, Any], expected: str
) -> None:
    raw = make_order_dict("SO-1", **overrides)
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("productCode", "ga0szc00u", "itemList[1].productCode: 'ga0szc00u' is malformed; write"),
        ("productCode", "GA0SZC00", "itemList[1].productCode: 'GA0SZC00' is malformed"),
        ("productCode", None, "itemList[1].productCode: is missing; add the 9-character Haier"),
        ("itemQty", "two", "itemList[1].itemQty: 'two' is not a whole number; write the quantity"),
        ("itemQty", -1, "itemList[1].itemQty: -1 is not positive"),
        ("itemQty", True, "itemList[1].itemQty: true is not a whole number"),
        ("itemQty", Decimal("1.5"), "itemList[1].itemQty: 1.5 is not a whole number"),
        ("retailPrice", "abc", "itemList[1].retailPrice: 'abc' is not an amount; write the unit"),
        ("discountAmount", None, "itemList[1].discountAmount: is missing; add the unit discount"),
        ("actualPrice", Decimal("Infinity"), "itemList[1].actualPrice: Infinity is not an amount"),
        ("isGift", 1, "itemList[1].isGift: 1 is not a boolean; write true or false"),
        ("isgift", True, "itemList[1].isgift: is not a field of the order format; did you mean"),
        ("flag", True, "itemList[1].flag: is not a field of the order format; known fields: act"),
    ],
)
def test_each_item_rule_names_the_item_index(field: str, value: Any, expected: str) -> None:
    raw = make_order_dict("SO-1", TWO_ITEMS)
    raw["itemList"][1][field] = value
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_an_item_that_is_not_an_object_is_reported_by_index() -> None:
    raw = make_order_dict("SO-1")
    raw["itemList"].append("GA0SZC00U")
    assert problems_of(raw) == ["itemList[1]: 'GA0SZC00U' is not an item; write a JSON object"]


def test_every_problem_is_reported_at_once() -> None:
    raw = make_order_dict("SO-9", TWO_ITEMS, consigneeMobile="12345", createTime=None)
    del raw["countyCode"]
    raw["itemList"][0]["itemQty"] = "two"
    raw["itemList"][1]["productCode"] = "bs01u000n"
    with pytest.raises(InvalidOrder) as caught:
        parse_order(raw, DEFAULTS, source="inbox/SO-9.json")
    error = caught.value
    assert error.so_id == "SO-9"
    assert [p.split(":")[0] for p in error.problems] == [
        "countyCode",
        "consigneeMobile",
        "createTime",
        "itemList[0].itemQty",
        "itemList[1].productCode",
    ]
    text = str(error)
    assert text.startswith("order 'SO-9' in inbox/SO-9.json is invalid (5 problems):\n  - ")
    assert all(problem in text for problem in error.problems)


def test_invalid_order_survives_pickling() -> None:
    error = InvalidOrder("SO-1", "SO-1.json", ["soId: is blank"])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.so_id, copy.source, copy.problems) == ("SO-1", "SO-1.json", ["soId: is blank"])
    assert str(copy) == str(error)


def test_record_without_usable_so_id_is_named_by_source_alone() -> None:
    with pytest.raises(InvalidOrder) as caught:
        parse_order(make_order_dict(""), DEFAULTS, source="x.json")
    assert caught.value.so_id is None
    assert str(caught.value).startswith("order in x.json is invalid (1 problem):")


def test_a_non_object_order_is_refused() -> None:
    assert problems_of(["not", "an", "order"]) == ["the order is a list; write one JSON object"]


def test_missing_fields_without_configured_default_say_which_setting() -> None:
    unconfigured = OrderDefaults(source_system=None, shop_name=" ", seller_code="8800633175")
    problems = problems_of(make_order_dict("SO-1"), unconfigured)
    assert problems == [
        "sourceSystem: is missing and no default is configured; add the source system name "
        "or configure HAIER_SOURCE_SYSTEM",
        "shopName: is missing and no default is configured; add the shop name "
        "or configure HAIER_SHOP_NAME",
    ]


def test_a_blank_value_in_the_file_does_not_fall_back_to_the_default() -> None:
    assert problems_of(make_order_dict("SO-1", shopName="")) == [
        "shopName: is blank; write the shop name"
    ]


def test_totals_are_checked_exactly_in_decimal() -> None:
    items = [("GA0SZC00U", 1, "0.10"), ("BS01U000N", 1, "0.20")]
    assert 0.1 + 0.2 != 0.3  # the trap that binary floats would fall into
    order = parse_order(make_order_dict("SO-1", items, totalAmt="0.3"), DEFAULTS, source="f")
    assert order.total_amt == Decimal("0.3")
    json_numbers = make_order_dict("SO-1", items, totalAmt=Decimal("0.30"))
    for item in json_numbers["itemList"]:
        item["actualPrice"] = Decimal(item["actualPrice"])
    assert parse_order(json_numbers, DEFAULTS, source="f").total_amt == Decimal("0.30")
    assert problems_of(make_order_dict("SO-1", items, totalAmt="0.31")) == [
        "totalAmt: 0.31 differs from the sum of actualPrice × itemQty (0.30); "
        "correct totalAmt or the item prices"
    ]


def test_total_amount_multiplies_unit_price_by_quantity() -> None:
    raw = make_order_dict("SO-1", [("GA0SZC00U", 3, "33.33")])
    assert raw["totalAmt"] == "99.99"
    assert parse_order(raw, DEFAULTS, source="f").total_amt == Decimal("99.99")
    raw["totalAmt"] = "33.33"
    assert problems_of(raw)[0].startswith("totalAmt: 33.33 differs from the sum of actualPrice")


def test_total_quantity_must_match_the_items() -> None:
    raw = make_order_dict("SO-1", TWO_ITEMS, totalQty=2)
    assert problems_of(raw) == [
        "totalQty: 2 differs from the sum of itemQty (3); correct totalQty or the item quantities"
    ]


def test_totals_are_not_compared_while_an_item_is_unreadable() -> None:
    raw = make_order_dict("SO-1", TWO_ITEMS, totalQty=99)
    raw["itemList"][0]["actualPrice"] = "free"
    assert [p.split(":")[0] for p in problems_of(raw)] == ["itemList[0].actualPrice"]


def test_integral_decimal_quantity_is_accepted_as_an_integer() -> None:
    raw = make_order_dict("SO-1", totalQty=Decimal("1.0"))
    raw["itemList"][0]["itemQty"] = Decimal("1")
    order = parse_order(raw, DEFAULTS, source="f")
    assert order.total_qty == 1
    assert type(order.items[0].item_qty) is int


def test_check_catalog_flags_unknown_and_unprocurable_products() -> None:
    items = [("GA0SZC00U", 1, "1.00"), ("BS01U000N", 1, "1.00"), ("CE0ABC123", 1, "1.00")]
    order = parse_order(make_order_dict("SO-1", items), DEFAULTS, source="f")
    problems = check_catalog(order, {"GA0SZC00U": True, "BS01U000N": False})
    assert problems == [
        "itemList[1].productCode: BS01U000N is not procurable per the last catalog sync; "
        "remove the item, or run catalog_sync if Haier has since released it",
        "itemList[2].productCode: CE0ABC123 is not in the synced catalog; run catalog_sync "
        "(with the code in HAIER_PRODUCT_CODES if that is set) or remove the item",
    ]
    assert check_catalog(order, {"GA0SZC00U": True, "BS01U000N": True, "CE0ABC123": True}) == []


def test_check_stock_sums_repeated_products_and_names_both_quantities() -> None:
    items = [("GA0SZC00U", 2, "1.00"), ("BS01U000N", 1, "1.00"), ("GA0SZC00U", 1, "0.00")]
    order = parse_order(make_order_dict("SO-1", items), DEFAULTS, source="f")
    assert check_stock(order, {"GA0SZC00U": 1, "BS01U000N": 5}) == [
        "GA0SZC00U: ordered 3, available 1 in county 110101"
    ]
    assert check_stock(order, {"GA0SZC00U": 3, "BS01U000N": 1}) == []
    assert check_stock(order, {"GA0SZC00U": 3}) == [
        "BS01U000N: ordered 1, no stock figure for county 110101; "
        "add 110101 to HAIER_COUNTY_CODES and run catalog_sync"
    ]


def test_a_misspelt_field_gets_the_closest_known_name() -> None:
    raw = make_order_dict("SO-1", instalTime=CREATE_TIME_MS)
    raw["itemList"][0]["isgift"] = True
    assert problems_of(raw) == [
        "instalTime: is not a field of the order format; did you mean installTime?",
        "itemList[0].isgift: is not a field of the order format; did you mean isGift?",
    ]
