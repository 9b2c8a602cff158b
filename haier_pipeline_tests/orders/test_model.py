from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from haier_pipeline.orders import Order, OrderItem, from_epoch_ms, to_epoch_ms

CST = timezone(timedelta(hours=8))


def make_order(**changes: object) -> Order:
    order = Order(
        so_id="SO-1",
        online_no="TB-1",
        county_code="110101",
        consignee_name="李四",
        consignee_mobile="13900139000",
        province="山东省",
        city="青岛市",
        area="市南区",
        detail_address="香港中路 1 号",
        total_qty=3,
        total_amt=Decimal("5097.00"),
        create_time=datetime(2025, 4, 30, 16, 0, tzinfo=CST),
        source_system="SYS",
        shop_name="海尔官方旗舰店",
        seller_code="8800633175",
        items=(
            OrderItem("GA0SZC00U", 2, Decimal("1999.00"), Decimal("100.00"), Decimal("1899.00")),
            OrderItem(
                "BS01U000N", 1, Decimal("1299"), Decimal("0"), Decimal("1299"), is_gift=False
            ),
        ),
    )
    return replace(order, **changes)


def test_payload_is_the_exact_create_order_body() -> None:
    assert make_order().to_ylh_payload() == {
        "sourceSystem": "SYS",
        "shopName": "海尔官方旗舰店",
        "sellerCode": "8800633175",
        "consigneeName": "李四",
        "consigneeMobile": "13900139000",
        "onlineNo": "TB-1",
        "soId": "SO-1",
        "totalQty": 3,
        "totalAmt": Decimal("5097.00"),
        "createTime": 1_746_000_000_000,
        "province": "山东省",
        "city": "青岛市",
        "area": "市南区",
        "detailAddress": "香港中路 1 号",
        "deliveryInstall": "false",
        "itemList": [
            {
                "productCode": "GA0SZC00U",
                "itemQty": 2,
                "retailPrice": Decimal("1999.00"),
                "discountAmount": Decimal("100.00"),
                "actualPrice": Decimal("1899.00"),
            },
            {
                "productCode": "BS01U000N",
                "itemQty": 1,
                "retailPrice": Decimal("1299"),
                "discountAmount": Decimal("0"),
                "actualPrice": Decimal("1299"),
                "isGift": False,
            },
        ],
    }


def test_payload_carries_optional_fields_when_given() -> None:
    when = datetime(2025, 5, 2, 23, 59, 59, tzinfo=CST)
    payload = make_order(
        town="八大关街道",
        distribution_time=when,
        install_time=when,
        remark="请电话联系",
        government_order=True,
    ).to_ylh_payload()
    assert payload["town"] == "八大关街道"
    assert payload["distributionTime"] == payload["installTime"] == 1_746_201_599_000
    assert payload["remark"] == "请电话联系"
    assert payload["governmentOrder"] is True
    assert "countyCode" not in payload


@pytest.mark.parametrize(
    ("distribution", "install", "expected"),
    [
        (1_746_201_599_000, 1_746_201_599_000, "true"),
        (1_746_201_599_000, 1_746_287_999_000, "false"),
        (1_746_201_599_000, None, "false"),
        (None, 1_746_201_599_000, "false"),
        (None, None, "false"),
    ],
)
def test_delivery_install_only_when_both_times_are_equal(
    distribution: int | None, install: int | None, expected: str
) -> None:
    order = make_order(
        distribution_time=None if distribution is None else from_epoch_ms(distribution),
        install_time=None if install is None else from_epoch_ms(install),
    )
    assert order.to_ylh_payload()["deliveryInstall"] == expected


def test_same_instant_in_two_timezones_counts_as_equal() -> None:
    utc = datetime(2025, 5, 2, 15, 59, 59, tzinfo=UTC)
    order = make_order(distribution_time=utc, install_time=utc.astimezone(CST))
    assert order.to_ylh_payload()["deliveryInstall"] == "true"


def test_epoch_ms_round_trips_in_utc() -> None:
    assert to_epoch_ms(datetime(2025, 4, 30, 16, 0, 0, 123_000, tzinfo=CST)) == 1_746_000_000_123
    assert from_epoch_ms(1_746_000_000_123) == datetime(2025, 4, 30, 8, 0, 0, 123_000, tzinfo=UTC)
    assert from_epoch_ms(1_746_000_000_123).tzinfo is UTC
    start = 1_746_000_000_000
    assert all(to_epoch_ms(from_epoch_ms(ms)) == ms for ms in range(start, start + 10**6, 997))


def test_naive_datetime_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"'SO-1': install_time .* has no timezone"):
        make_order(install_time=datetime(2025, 5, 2, 23, 59, 59))


def test_quantities_by_product_adds_repeated_lines() -> None:
    gift = OrderItem("GA0SZC00U", 1, Decimal("0"), Decimal("0"), Decimal("0"), is_gift=True)
    order = make_order(items=(*make_order().items, gift))
    assert order.quantities_by_product() == {"GA0SZC00U": 3, "BS01U000N": 1}
