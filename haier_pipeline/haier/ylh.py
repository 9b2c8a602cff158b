"""Client for the YLH order system: push, cancel, reschedule, photos, logistics numbers (3.0-3.5).

It shares the transport (pacing, retries, tokens, envelope) with the JSH client; only the
token grant and the URLs differ. Pushing is idempotent by soId: YLH refuses a soId it has seen
with SO_ID_DUPLICATE and the original retailOrderNo, which :meth:`YlhClient.create_order`
turns into a normal result, so a run that crashed after a push can safely push again.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from haier_pipeline.haier import fields, records, validation
from haier_pipeline.haier.budget import serving_orders
from haier_pipeline.haier.endpoints import (
    YLH_CANCEL_ORDER,
    YLH_CREATE_ORDER,
    YLH_DELIVERY_IMAGES,
    YLH_LOGISTICS_NUMBERS,
    YLH_RESCHEDULE,
    YLH_SERVICES,
    YlhEndpoint,
    YlhServices,
)
from haier_pipeline.haier.errors import HaierBusinessError, HaierProtocolError
from haier_pipeline.haier.masking import get_logger
from haier_pipeline.haier.payloads import as_list, reported
from haier_pipeline.haier.records import LogisticsNumber, ParseResult
from haier_pipeline.haier.retry import RetryPolicy
from haier_pipeline.haier.settings import YlhSettings
from haier_pipeline.haier.tokens import Token
from haier_pipeline.haier.transport import Transport, TransportClient, endpoint_of

log = get_logger(__name__)

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and
# needs no tz database on the host.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
RESCHEDULE_TIME_OF_DAY = time(23, 59, 59)
SO_ID_DUPLICATE = "SO_ID_DUPLICATE"
SYSTEM_NAME = "ylh-open-api"
CREDENTIALS = "YLH_CLIENT_ID, YLH_CLIENT_SECRET, YLH_USERNAME and YLH_PASSWORD"
URLS = "the account's ylh_base_url and ylh_auth_url (or YLH_BASE_URL and YLH_AUTH_URL)"


@dataclass(frozen=True)
class OrderPushResult:
    """``duplicate`` is True when YLH already had this soId (an earlier push of ours)."""

    so_id: str
    retail_order_no: str
    duplicate: bool


class YlhClient(TransportClient):
    """Thread-safe. ``services`` picks the service path segments (YLH_TEST_SERVICES for the
    test environment, which adds ``-dev``)."""

    def __init__(
        self,
        settings: YlhSettings,
        *,
        services: YlhServices = YLH_SERVICES,
        max_workers: int = 8,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._services = services
        basic = f"{settings.client_id}:{settings.client_secret}".encode()
        self._basic = base64.b64encode(basic).decode("ascii")
        super().__init__(
            settings,
            max_workers=max_workers,
            retry=retry,
            credentials_hint=CREDENTIALS,
            url_hint=URLS,
            extra_secrets=[self._basic],
        )

    def create_order(self, order: Mapping[str, Any]) -> OrderPushResult:
        """Push one retail order (the create-order body of haier-api.md 3.1).

        Money must be ``Decimal`` (sent as JSON numbers with their exact digits); a float
        raises TypeError naming the field before anything is sent.
        """
        so_id = validation.text("the order's soId", order.get(fields.ORDER_SO_ID))
        endpoint = self._endpoint(YLH_CREATE_ORDER)
        try:
            payload = self._order_call(YLH_CREATE_ORDER, dict(order))
        except HaierBusinessError as exc:
            if exc.code != SO_ID_DUPLICATE:
                raise
            retail_order_no = _retail_order_no(endpoint, so_id, exc.data)
            log.info("soId %s was already pushed as %s; not pushed again", so_id, retail_order_no)
            return OrderPushResult(so_id, retail_order_no, duplicate=True)
        return OrderPushResult(so_id, _retail_order_no(endpoint, so_id, payload), duplicate=False)

    def cancel_order(
        self, so_id: str, cancel_time: datetime, reason: str, source_system: str
    ) -> None:
        body = {
            "soId": validation.text("so_id", so_id),
            "cancelTime": str(validation.epoch_ms(validation.aware("cancel_time", cancel_time))),
            "cancelReason": validation.text("reason", reason),
            "sourceSystem": validation.text("source_system", source_system),
        }
        self._order_call(YLH_CANCEL_ORDER, body)

    def reschedule(
        self,
        retail_order_no: str,
        distribution_time: datetime | None = None,
        install_time: datetime | None = None,
    ) -> None:
        """Move delivery and/or installation to another day (23:59:59 Asia/Shanghai)."""
        number = validation.text("retail_order_no", retail_order_no)
        body: dict[str, Any] = {"retailOrderNo": number}
        if distribution_time is None and install_time is None:
            raise ValueError("reschedule needs distribution_time, install_time or both")
        if distribution_time is not None:
            body["distributionTime"] = _end_of_day_ms("distribution_time", distribution_time)
        if install_time is not None:
            body["installTime"] = _end_of_day_ms("install_time", install_time)
        self._order_call(YLH_RESCHEDULE, body)

    def delivery_images(self, order_no: str) -> list[str]:
        """URLs of the delivery and installation photos of one order."""
        body = {"orderNo": validation.text("order_no", order_no)}
        endpoint = self._endpoint(YLH_DELIVERY_IMAGES)
        urls = as_list(endpoint, self._call(YLH_DELIVERY_IMAGES, body))
        for index, url in enumerate(urls):
            if not isinstance(url, str) or not url.strip():
                raise HaierProtocolError(endpoint, f"image {index} is {url!r}, expected a URL")
        return urls

    def logistics_numbers(self, so_numbers: Sequence[str]) -> ParseResult[LogisticsNumber]:
        """Carrier, tracking number and serial number of each parcel of these orders."""
        if isinstance(so_numbers, str):
            raise ValueError(f"so_numbers must be a list of SO numbers, not text {so_numbers!r}")
        body = [validation.text("SO number", so) for so in so_numbers]
        if not body:
            return ParseResult([], [])
        endpoint = self._endpoint(YLH_LOGISTICS_NUMBERS)
        items = as_list(endpoint, self._call(YLH_LOGISTICS_NUMBERS, body))
        return reported(endpoint, records.parse_logistics_numbers(items))

    def _endpoint(self, endpoint: YlhEndpoint) -> str:
        return endpoint_of(self._services.url(self._settings.base_url, endpoint))

    def _call(self, endpoint: YlhEndpoint, body: Any) -> Any:
        return self._transport.call(self._services.url(self._settings.base_url, endpoint), body)

    def _order_call(self, endpoint: YlhEndpoint, body: Any) -> Any:
        """A call that serves an order: it goes before bulk calls waiting for the same budget."""
        with serving_orders():
            return self._call(endpoint, body)

    def _fetch_token(self, transport: Transport) -> Token:
        """Password grant: form-encoded, client credentials as HTTP Basic."""
        form = {
            "grant_type": "password",
            "username": self._settings.username,
            "password": self._settings.password,
        }
        headers = {"system-name": SYSTEM_NAME, "Authorization": f"Basic {self._basic}"}
        reply = transport.exchange(self._settings.auth_url, form=form, headers=headers)
        return transport.token_from(self._settings.auth_url, reply)


def _end_of_day_ms(name: str, value: datetime) -> int:
    local = validation.aware(name, value).astimezone(SHANGHAI)
    if local.timetz().replace(tzinfo=None) != RESCHEDULE_TIME_OF_DAY:
        raise ValueError(
            f"{name} {value.isoformat()} is {local:%H:%M:%S.%f} in Asia/Shanghai; YLH accepts "
            f"only 23:59:59 on the chosen day, e.g. {local:%Y-%m-%d} 23:59:59+08:00 "
            "(datetime(..., 23, 59, 59, tzinfo=SHANGHAI))"
        )
    return validation.epoch_ms(local)


def _retail_order_no(endpoint: str, so_id: str, data: Any) -> str:
    """The retailOrderNo in a create-order answer, checked to belong to our soId."""
    wire = {ours: wire for wire, ours in fields.ORDER_PUSH.items()}
    if not isinstance(data, Mapping):
        raise HaierProtocolError(endpoint, f"the answer for soId {so_id} carries no order object")
    number = data.get(wire["retail_order_no"])
    if not isinstance(number, str) or not number.strip():
        raise HaierProtocolError(
            endpoint,
            f"the answer for soId {so_id} has no {wire['retail_order_no']}; look the order up "
            "in YLH by soId before pushing it again",
        )
    echoed = data.get(wire["so_id"])
    if echoed is not None and echoed != so_id:
        raise HaierProtocolError(endpoint, f"the answer for soId {so_id} names soId {echoed!r}")
    return number
