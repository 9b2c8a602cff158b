"""YLH order endpoints 3.1-3.5, JSH logistics 2.4 and the sandbox's order state."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from haier_pipeline.sandbox.protocol import LOGISTICS_LISTS, LOGISTICS_STATUSES
from haier_pipeline_tests.sandbox.conftest import decimal_json

SHANGHAI = timezone(timedelta(hours=8))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _answer(response) -> dict:
    assert response.status_code == 200, response.text
    return decimal_json(response)


def _create(caller, so_id: str, **changes) -> dict:
    body = _answer(caller.ylh("order_create", caller.order_body(so_id, **changes)))
    assert body["success"] is True, body
    return body["data"]


def _logistics(caller, order_code: str, **changes) -> dict:
    a = caller.account
    body = {
        "orderCode": order_code,
        "sellerCode": a.customer_code,
        "sellerPassword": a.seller_password,
    } | changes
    return _answer(caller.jsh("logistics", body))


def test_create_issues_a_retail_order_number(caller) -> None:
    data = _create(caller, "SO-1")
    today = datetime.now(SHANGHAI).strftime("%Y%m%d")
    assert re.fullmatch(rf"SO\.{today}\.\d{{6}}", data["retailOrderNo"])
    assert data["soId"] == "SO-1"
    second = _create(caller, "SO-2")["retailOrderNo"]
    assert int(second[-6:]) == int(data["retailOrderNo"][-6:]) + 1
    stored = caller.sandbox.orders["SO-1"]
    assert stored["retailOrderNo"] == data["retailOrderNo"]
    assert stored["request"]["consigneeName"] == "张三" and stored["cancelled"] is False
    assert stored["logisticsStatus"] == "CREATED"
    assert caller.sandbox.create_count("SO-1") == 1


def test_duplicate_so_id_is_refused_with_the_original_number(caller) -> None:
    original = _create(caller, "SO-DUP")["retailOrderNo"]
    again = _answer(caller.ylh("order_create", caller.order_body("SO-DUP")))
    assert again["success"] is False and again["code"] == "SO_ID_DUPLICATE"
    assert again["data"]["retailOrderNo"] == original
    assert caller.sandbox.create_count("SO-DUP") == 2
    assert len(caller.sandbox.orders) == 1


def test_totals_must_match_the_items(caller) -> None:
    for changes in ({"totalAmt": "4397.49"}, {"totalQty": 4}):
        body = _answer(caller.ylh("order_create", caller.order_body("SO-AMT", **changes)))
        assert body["success"] is False and body["code"] == "AMOUNT_MISMATCH", body
    assert caller.sandbox.orders == {}
    assert _create(caller, "SO-AMT", totalAmt=4397.5)["soId"] == "SO-AMT"  # number, exact


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"consigneeMobile": None}, ["consigneeMobile", "soId=SO-BAD"]),
        ({"soId": ""}, ["soId"]),
        ({"totalQty": "three"}, ["totalQty"]),
        ({"itemList": []}, ["itemList"]),
        ({"createTime": None}, ["createTime"]),
        ({"deliveryInstall": "true"}, ["deliveryInstall", "'false'"]),
        ({"distributionTime": 1, "installTime": 1}, ["deliveryInstall", "'true'"]),
    ],
)
def test_malformed_orders_are_400_naming_the_field(caller, changes, words) -> None:
    response = caller.ylh("order_create", caller.order_body("SO-BAD", **changes))
    assert response.status_code == 400, response.text
    for word in words:
        assert word in response.json()["message"]
    assert caller.sandbox.orders == {}


def test_item_errors_name_the_item(caller) -> None:
    body = caller.order_body("SO-ITEM")
    del body["itemList"][1]["actualPrice"]
    response = caller.ylh("order_create", body)
    assert response.status_code == 400
    assert "itemList[1]" in response.json()["message"]
    assert "actualPrice" in response.json()["message"]


def test_business_rules_on_products_seller_and_source(caller) -> None:
    blocked = next(p for p in caller.sandbox.catalog if not p.procurable)
    body = caller.order_body("SO-BLOCK")
    body["itemList"][0]["productCode"] = blocked.code
    assert _answer(caller.ylh("order_create", body))["code"] == "PRODUCT_NOT_PROCURABLE"
    body["itemList"][0]["productCode"] = "UNKNOWN99"
    assert _answer(caller.ylh("order_create", body))["code"] == "PRODUCT_NOT_FOUND"
    wrong_seller = caller.order_body("SO-SELLER", sellerCode="123")
    assert _answer(caller.ylh("order_create", wrong_seller))["code"] == "SELLER_NOT_FOUND"
    wrong_source = caller.order_body("SO-SRC", sourceSystem="OTHER")
    assert _answer(caller.ylh("order_create", wrong_source))["code"] == "SOURCE_SYSTEM_UNKNOWN"
    assert caller.sandbox.orders == {}


def test_delivery_and_install_times_are_stored(caller) -> None:
    day_end = _ms(datetime(2026, 5, 1, 23, 59, 59, tzinfo=SHANGHAI))
    _create(caller, "SO-T", distributionTime=day_end, installTime=day_end, deliveryInstall="true")
    stored = caller.sandbox.orders["SO-T"]
    assert stored["distributionTime"] == stored["installTime"] == day_end


def _cancel(caller, so_id: str) -> dict:
    body = {
        "soId": so_id,
        "cancelTime": str(_ms(datetime.now(SHANGHAI))),
        "cancelReason": "用户取消",
        "sourceSystem": caller.account.source_system,
    }
    return _answer(caller.ylh("order_cancel", body))


def test_cancel_before_shipping_only(caller) -> None:
    _create(caller, "SO-C1")
    assert _cancel(caller, "SO-C1")["success"] is True
    assert _cancel(caller, "SO-C1")["success"] is True  # repeated cancel: same answer
    assert caller.sandbox.orders["SO-C1"]["cancelled"] is True
    assert caller.sandbox.orders["SO-C1"]["cancelReason"] == "用户取消"
    assert _cancel(caller, "SO-NONE")["code"] == "ORDER_NOT_FOUND"
    _create(caller, "SO-C2")
    caller.sandbox.advance_logistics("SO-C2")
    assert _cancel(caller, "SO-C2")["code"] == "ORDER_ALREADY_SHIPPED"
    with pytest.raises(ValueError, match="cancelled"):
        caller.sandbox.advance_logistics("SO-C1")


def test_reschedule_needs_end_of_day_times(caller) -> None:
    retail_no = _create(caller, "SO-R")["retailOrderNo"]
    good = _ms(datetime(2026, 6, 2, 23, 59, 59, tzinfo=SHANGHAI))
    noon = _ms(datetime(2026, 6, 2, 12, 0, tzinfo=SHANGHAI))
    utc_day_end = _ms(datetime(2026, 6, 2, 23, 59, 59, tzinfo=UTC))
    ok = _answer(caller.ylh("order_reschedule", {"retailOrderNo": retail_no, "installTime": good}))
    assert ok["success"] is True
    assert caller.sandbox.orders["SO-R"]["installTime"] == good
    for bad in (noon, utc_day_end):
        refused = _answer(
            caller.ylh("order_reschedule", {"retailOrderNo": retail_no, "distributionTime": bad})
        )
        assert refused["code"] == "INVALID_TIME" and "23:59:59" in refused["message"]
    assert caller.sandbox.orders["SO-R"]["distributionTime"] is None
    missing = caller.ylh("order_reschedule", {"retailOrderNo": retail_no})
    assert missing.status_code == 400
    unknown = {"retailOrderNo": "SO.1.1", "installTime": good}
    assert _answer(caller.ylh("order_reschedule", unknown))["code"] == "ORDER_NOT_FOUND"


def test_logistics_advance_through_every_status(caller) -> None:
    retail_no = _create(caller, "SO-L")["retailOrderNo"]
    events = [caller.sandbox.advance_logistics("SO-L") for _ in LOGISTICS_STATUSES[1:]]
    assert [e["status"] for e in events] == list(LOGISTICS_STATUSES[1:])
    assert len({(e["logisticsNo"], e["logisticsCompany"], e["snCode"]) for e in events}) == 1
    times = [e["statusTime"] for e in caller.sandbox.orders["SO-L"]["events"]]
    assert times == sorted(times) and len(set(times)) == len(times)
    with pytest.raises(ValueError, match="SIGNED"):
        caller.sandbox.advance_logistics("SO-L")
    with pytest.raises(KeyError):
        caller.sandbox.advance_logistics("SO-MISSING")
    data = _logistics(caller, retail_no)["data"]
    assert set(data) == set(LOGISTICS_LISTS)
    merged = sorted((e for lst in data.values() for e in lst), key=lambda e: e["statusTime"])
    assert [e["status"] for e in merged] == list(LOGISTICS_STATUSES)
    assert all(e["deliveryRecordCode"] == f"{retail_no}.F1" for e in merged)
    assert _logistics(caller, retail_no)["data"] == data  # same split every time


def test_logistics_events_spread_over_the_three_lists(caller) -> None:
    used = set()
    for n in range(6):
        retail_no = _create(caller, f"SO-S{n}")["retailOrderNo"]
        for _ in range(3):
            caller.sandbox.advance_logistics(f"SO-S{n}")
        used |= {name for name, lst in _logistics(caller, retail_no)["data"].items() if lst}
    assert used == set(LOGISTICS_LISTS)


def test_logistics_failures(caller) -> None:
    assert _logistics(caller, "SO.20200101.000001")["code"] == "ORDER_NOT_FOUND"
    retail_no = _create(caller, "SO-LF")["retailOrderNo"]
    wrong = _logistics(caller, retail_no, sellerPassword=caller.account.password)
    assert wrong["code"] == "PASSWORD_WRONG"
    record = _logistics(caller, retail_no, deliveryRecordCode=f"{retail_no}.F9")
    assert all(lst == [] for lst in record["data"].values())


def test_delivery_images_appear_once_delivered(caller) -> None:
    retail_no = _create(caller, "SO-IMG")["retailOrderNo"]
    counts = []
    for _ in range(5):
        body = _answer(caller.ylh("delivery_images", {"orderNo": retail_no}))
        counts.append(len(body["data"]))
        caller.sandbox.advance_logistics("SO-IMG")
    assert counts == [0, 0, 0, 1, 2]
    unknown = _answer(caller.ylh("delivery_images", {"orderNo": "SO.1.2"}))
    assert unknown["code"] == "ORDER_NOT_FOUND"


def test_store_logistics_takes_a_bare_array(caller) -> None:
    shipped = _create(caller, "SO-A")["retailOrderNo"]
    waiting = _create(caller, "SO-B")["retailOrderNo"]
    caller.sandbox.advance_logistics("SO-A")
    data = _answer(caller.ylh("store_logistics", [shipped, waiting, "SO.0.0"]))["data"]
    assert [d["orderCode"] for d in data] == [shipped, waiting]
    [item] = data[0]["logisticsList"]
    assert set(item) == {"logisticsCompany", "logisticsNo", "snCode"}
    assert data[1]["logisticsList"] == []
    assert caller.ylh("store_logistics", {"orderCode": shipped}).status_code == 400
