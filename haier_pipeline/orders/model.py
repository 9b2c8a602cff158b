"""A validated retail order and its YLH create-order body (haier-api.md 3.1).

An ``Order`` only exists once ``parse_order`` has accepted the shop's file, so the rest of the
pipeline can trust its types: money is ``Decimal`` (YLH amounts are Java BigDecimal and totals
must match the items exactly), times are timezone-aware (the wire format is an absolute
instant, milliseconds since the epoch, and a naive datetime would silently mean "local time").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def to_epoch_ms(moment: datetime) -> int:
    """Integer timedelta arithmetic, so no float stands between the instant and the wire."""
    return (moment - _EPOCH) // _MILLISECOND


def from_epoch_ms(ms: int) -> datetime:
    """The inverse of ``to_epoch_ms``, in UTC so that the instant survives any round trip."""
    return _EPOCH + ms * _MILLISECOND


def is_delivery_install(distribution_time: datetime | None, install_time: datetime | None) -> bool:
    """YLH's rule: delivery and installation in one visit only when both times agree."""
    return (
        distribution_time is not None
        and install_time is not None
        and to_epoch_ms(distribution_time) == to_epoch_ms(install_time)
    )


@dataclass(frozen=True)
class OrderDefaults:
    """Values a shop may leave out of its files because they are the same for every order.

    They come from configuration (HAIER_SOURCE_SYSTEM, HAIER_SHOP_NAME, the seller code); None
    means "not configured", which makes a file that also leaves the field out invalid.
    """

    source_system: str | None
    shop_name: str | None
    seller_code: str | None


@dataclass(frozen=True)
class OrderItem:
    """One order line; prices are per unit, so the line amount is actual_price * item_qty."""

    product_code: str
    item_qty: int
    retail_price: Decimal
    discount_amount: Decimal
    actual_price: Decimal
    is_gift: bool | None = None

    def to_ylh_payload(self) -> dict[str, Any]:
        """The item as YLH expects it; isGift is left out when the shop did not say."""
        return _without_none(
            {
                "productCode": self.product_code,
                "itemQty": self.item_qty,
                "retailPrice": self.retail_price,
                "discountAmount": self.discount_amount,
                "actualPrice": self.actual_price,
                "isGift": self.is_gift,
            }
        )


@dataclass(frozen=True, kw_only=True)
class Order:
    """One paid order, keyed by so_id (YLH refuses a soId it has already received).

    county_code is ours, not YLH's: it is the delivery county used to confirm stock before the
    push, and it is not part of the create-order body. Neither is account: it names whose
    catalog, clients and credentials serve the order.
    """

    so_id: str
    online_no: str
    county_code: str
    consignee_name: str
    consignee_mobile: str
    province: str
    city: str
    area: str
    town: str | None = None
    detail_address: str
    total_qty: int
    total_amt: Decimal
    create_time: datetime
    distribution_time: datetime | None = None
    install_time: datetime | None = None
    remark: str | None = None
    government_order: bool | None = None
    source_system: str
    shop_name: str
    seller_code: str
    items: tuple[OrderItem, ...]
    account: str = DEFAULT_ACCOUNT

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise ValueError(
                    f"Order {self.so_id!r}: {f.name} {value} has no timezone; "
                    "pass a timezone-aware datetime (e.g. from_epoch_ms)"
                )

    @property
    def delivery_install(self) -> bool:
        return is_delivery_install(self.distribution_time, self.install_time)

    def quantities_by_product(self) -> dict[str, int]:
        """Stock is per product, so repeated lines of one product count together."""
        totals: Counter[str] = Counter()
        for item in self.items:
            totals[item.product_code] += item.item_qty
        return dict(totals)

    def to_ylh_payload(self) -> dict[str, Any]:
        """The exact 3.1 body; the HTTP client must serialise the Decimal amounts exactly."""
        return _without_none(
            {
                "sourceSystem": self.source_system,
                "shopName": self.shop_name,
                "sellerCode": self.seller_code,
                "consigneeName": self.consignee_name,
                "consigneeMobile": self.consignee_mobile,
                "onlineNo": self.online_no,
                "soId": self.so_id,
                "totalQty": self.total_qty,
                "totalAmt": self.total_amt,
                "createTime": to_epoch_ms(self.create_time),
                "province": self.province,
                "city": self.city,
                "area": self.area,
                "town": self.town,
                "detailAddress": self.detail_address,
                "deliveryInstall": "true" if self.delivery_install else "false",
                "distributionTime": _optional_ms(self.distribution_time),
                "installTime": _optional_ms(self.install_time),
                "remark": self.remark,
                "governmentOrder": self.government_order,
                "itemList": [item.to_ylh_payload() for item in self.items],
            }
        )


def _optional_ms(moment: datetime | None) -> int | None:
    return None if moment is None else to_epoch_ms(moment)


def _without_none(payload: dict[str, Any]) -> dict[str, Any]:
    """YLH wants optional fields left out, not sent as null."""
    return {key: value for key, value in payload.items() if value is not None}
