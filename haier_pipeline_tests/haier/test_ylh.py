"""YlhClient: password-grant token, order push (idempotent by soId), cancel, reschedule rules,
photos and logistics numbers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.endpoints import YLH_SERVICES, YLH_TEST_SERVICES, YlhServices
from haier_pipeline.haier.errors import HaierBusinessError, HaierProtocolError
from haier_pipeline.haier.ylh import SHANGHAI, OrderPushResult, YlhClient
from haier_pipeline_tests.haier.stub import (
    FAST_RETRY,
    SECRETS,
    YLH_TOKEN_PATH,
    StubServer,
    ok,
    refused,
    ylh_settings,
)


def path(endpoint: endpoints.YlhEndpoint, services: YlhServices = YLH_SERVICES) -> str:
    return "/ylh" + services.url("", endpoint)


CREATE = path(endpoints.YLH_CREATE_ORDER)
ORDER = {
    "sourceSystem": "SHOP",
    "soId": "SO-42",
    "totalQty": 2,
    "totalAmt": Decimal("3998.20"),
    "itemList": [
        {
            "productCode": "GA0SZC00U",
            "itemQty": 2,
            "retailPrice": Decimal("1999.10"),
            "discountAmount": Decimal("0"),
            "actualPrice": Decimal("1999.10"),
        }
    ],
    "detailAddress": "青岛市市南区香港中路1号",
}


@pytest.fixture
def ylh(stub: StubServer) -> Iterator[YlhClient]:
    with YlhClient(ylh_settings(stub), retry=FAST_RETRY) as client:
        yield client


def test_token_is_a_form_encoded_password_grant_with_basic_auth(
    stub: StubServer, ylh: YlhClient
) -> None:
    stub.script(CREATE, ok({"retailOrderNo": "SO.20250430.000001", "soId": "SO-42"}))
    ylh.create_order(ORDER)
    (token_request,) = stub.calls(YLH_TOKEN_PATH)
    assert token_request.headers["system-name"] == "ylh-open-api"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    basic = base64.b64encode(f"ylh-client:{SECRETS[3]}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {basic}"
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["password"],
        "username": ["shop-user"],
        "password": [SECRETS[4]],
    }
    assert stub.calls(CREATE)[0].headers["Authorization"] == "Bearer tok-1"


def test_create_order_sends_money_with_its_exact_digits(stub: StubServer, ylh: YlhClient) -> None:
    stub.script(CREATE, ok({"retailOrderNo": "SO.20250430.000001", "soId": "SO-42"}))
    result = ylh.create_order(ORDER)
    assert result == OrderPushResult("SO-42", "SO.20250430.000001", duplicate=False)
    body = stub.calls(CREATE)[0].body.decode("utf-8")
    assert '"totalAmt": 3998.20' in body
    assert '"retailPrice": 1999.10' in body
    assert "青岛市市南区香港中路1号" in body  # UTF-8 text, not \\u escapes


def test_duplicate_so_id_returns_the_original_order_number(
    stub: StubServer, ylh: YlhClient
) -> None:
    original = {"retailOrderNo": "SO.20250430.000007"}
    stub.script(CREATE, refused("SO_ID_DUPLICATE", "子订单号重复", original))
    assert ylh.create_order(ORDER) == OrderPushResult("SO-42", "SO.20250430.000007", True)
    assert len(stub.calls(CREATE)) == 1


def test_duplicate_without_order_number_is_a_protocol_error(
    stub: StubServer, ylh: YlhClient
) -> None:
    stub.script(CREATE, refused("SO_ID_DUPLICATE", "子订单号重复", None))
    with pytest.raises(HaierProtocolError, match="soId SO-42 carries no order object"):
        ylh.create_order(ORDER)


def test_other_refusals_are_business_errors(stub: StubServer, ylh: YlhClient) -> None:
    stub.script(CREATE, refused("AMOUNT_MISMATCH", "金额不一致"))
    with pytest.raises(HaierBusinessError) as caught:
        ylh.create_order(ORDER)
    assert caught.value.code == "AMOUNT_MISMATCH"


def test_answer_for_another_so_id_is_refused(stub: StubServer, ylh: YlhClient) -> None:
    stub.script(CREATE, ok({"retailOrderNo": "SO.1", "soId": "SO-41"}))
    with pytest.raises(HaierProtocolError, match="names soId 'SO-41'"):
        ylh.create_order(ORDER)


def test_float_money_is_refused_before_sending(stub: StubServer, ylh: YlhClient) -> None:
    with pytest.raises(TypeError, match=r"\$\.totalAmt is the float 3998\.2"):
        ylh.create_order(ORDER | {"totalAmt": 3998.2})
    assert stub.calls(CREATE) == []


def test_order_without_so_id_is_refused(ylh: YlhClient) -> None:
    with pytest.raises(ValueError, match="soId"):
        ylh.create_order({k: v for k, v in ORDER.items() if k != "soId"})


def test_cancel_sends_time_as_millisecond_text(stub: StubServer, ylh: YlhClient) -> None:
    cancel = path(endpoints.YLH_CANCEL_ORDER)
    stub.script(cancel, ok(None))
    ylh.cancel_order("SO-42", datetime(2025, 4, 30, 8, 0, tzinfo=UTC), "客户取消", "SHOP")
    assert stub.calls(cancel)[0].json() == {
        "soId": "SO-42",
        "cancelTime": "1746000000000",
        "cancelReason": "客户取消",
        "sourceSystem": "SHOP",
    }


def test_cancel_refuses_a_naive_time(ylh: YlhClient) -> None:
    with pytest.raises(ValueError, match="cancel_time 2025-04-30T08:00:00 has no time zone"):
        ylh.cancel_order("SO-42", datetime(2025, 4, 30, 8, 0), "r", "SHOP")


def test_reschedule_sends_end_of_day_in_shanghai(stub: StubServer, ylh: YlhClient) -> None:
    reschedule = path(endpoints.YLH_RESCHEDULE)
    stub.script(reschedule, ok(None))
    day_end = datetime(2025, 5, 1, 23, 59, 59, tzinfo=SHANGHAI)
    same_instant_utc = day_end.astimezone(UTC)  # 15:59:59 UTC is 23:59:59 in Shanghai
    ylh.reschedule("SO.20250430.000001", day_end, same_instant_utc)
    body = stub.calls(reschedule)[0].json()
    assert body == {
        "retailOrderNo": "SO.20250430.000001",
        "distributionTime": 1746115199000,
        "installTime": 1746115199000,
    }


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (datetime(2025, 5, 1, 23, 59, 59, tzinfo=UTC), "is 07:59:59.000000 in Asia/Shanghai"),
        (datetime(2025, 5, 1, 18, 0, tzinfo=SHANGHAI), "only 23:59:59 on the chosen day"),
        (datetime(2025, 5, 1, 23, 59, 59, 500000, tzinfo=SHANGHAI), "23:59:59.500000"),
        (datetime(2025, 5, 1, 23, 59, 59), "has no time zone"),
    ],
)
def test_reschedule_checks_the_time_of_day_before_sending(
    stub: StubServer, ylh: YlhClient, when: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ylh.reschedule("SO.1", install_time=when)
    assert stub.requests == []


def test_reschedule_needs_a_time(ylh: YlhClient) -> None:
    with pytest.raises(ValueError, match="distribution_time, install_time or both"):
        ylh.reschedule("SO.1")


def test_other_zones_are_converted_first(stub: StubServer, ylh: YlhClient) -> None:
    reschedule = path(endpoints.YLH_RESCHEDULE)
    stub.script(reschedule, ok(None))
    tokyo = timezone(timedelta(hours=9))
    ylh.reschedule("SO.1", distribution_time=datetime(2025, 5, 2, 0, 59, 59, tzinfo=tokyo))
    assert stub.calls(reschedule)[0].json()["distributionTime"] == 1746115199000


def test_delivery_images(stub: StubServer, ylh: YlhClient) -> None:
    images = path(endpoints.YLH_DELIVERY_IMAGES)
    stub.script(images, ok(["https://img/1.jpg", "https://img/2.jpg"]), ok(None), ok([None]))
    assert ylh.delivery_images("SO.20250430.000001") == ["https://img/1.jpg", "https://img/2.jpg"]
    assert stub.calls(images)[0].json() == {"orderNo": "SO.20250430.000001"}
    assert ylh.delivery_images("SO.1") == []
    with pytest.raises(HaierProtocolError, match="image 0 is None"):
        ylh.delivery_images("SO.1")


def test_logistics_numbers_body_is_a_bare_array(stub: StubServer, ylh: YlhClient) -> None:
    numbers = path(endpoints.YLH_LOGISTICS_NUMBERS)
    parcel = {"logisticsCompany": "顺丰", "logisticsNo": "SF1", "snCode": "SN1"}
    stub.script(numbers, ok([{"orderCode": "SO.1", "logisticsList": [parcel]}]))
    result = ylh.logistics_numbers(["SO.1", "SO.2"])
    assert [n.logistics_no for n in result.records] == ["SF1"]
    assert stub.calls(numbers)[0].json() == ["SO.1", "SO.2"]
    assert ylh.logistics_numbers([]).records == []
    assert len(stub.calls(numbers)) == 1  # nothing asked, nothing sent


def test_test_environment_services_carry_the_dev_suffix(stub: StubServer) -> None:
    dev_create = path(endpoints.YLH_CREATE_ORDER, YLH_TEST_SERVICES)
    assert dev_create.startswith("/ylh/ylh-cloud-service-jst-order-dev/")
    stub.script(dev_create, ok({"retailOrderNo": "SO.1"}))
    with YlhClient(ylh_settings(stub), services=YLH_TEST_SERVICES, retry=FAST_RETRY) as ylh:
        assert ylh.create_order(ORDER).retail_order_no == "SO.1"
    assert YLH_TEST_SERVICES.auth_url("http://dev.ylhtest.com") == (
        "http://dev.ylhtest.com/ylh-cloud-mgt-auth-dev/oauth/token"
    )
