"""The YLH order endpoints (haier-api.md section 3): validation first, then the order book.

The checks mirror what the real order system refuses, in its order: malformed requests (400),
then business rules (seller, source system, duplicate soId, products, amounts), so a client
sees the same kind of answer here as it would in production.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox import validate as v
from haier_pipeline.sandbox.api import Api
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.sandbox.wire import BadRequest, BusinessFailure

_REQUIRED_TEXT = (
    "sourceSystem",
    "shopName",
    "sellerCode",
    "consigneeName",
    "consigneeMobile",
    "onlineNo",
    "province",
    "city",
    "area",
    "detailAddress",
)


class YlhApi(Api):
    """Answers the five YLH order calls against one order book."""

    def create(self, body: dict[str, Any], _: FaultConfig) -> dict[str, str]:
        so_id = v.required_str(body, "soId", "create-order request")
        record = f"order soId={so_id}"
        for field in _REQUIRED_TEXT:
            v.required_str(body, field, record)
        v.optional_str(body, "remark", record)
        v.optional_str(body, "town", record)
        total_qty = v.required_int(body, "totalQty", record)
        total_amt = v.required_decimal(body, "totalAmt", record)
        v.required_int(body, "createTime", record)
        v.optional_bool(body, "governmentOrder", record)
        _check_delivery_install(body, record)
        items = _items(body, record)
        self.orders.note_attempt(so_id)
        self.stats.served("order_create")
        self._check_seller(body)
        self.orders.check_new(so_id)
        self._check_products(items, record)
        _check_totals(items, total_qty, total_amt, record)
        order = self.orders.create(body, items[0]["productCode"])
        return {"retailOrderNo": order.retail_order_no, "soId": so_id}

    def _check_seller(self, body: dict[str, Any]) -> None:
        if body["sellerCode"] != self.account.customer_code:
            raise BusinessFailure(
                p.SELLER_NOT_FOUND, f"卖方不存在: sellerCode {body['sellerCode']}"
            )
        if body["sourceSystem"] != self.account.source_system:
            raise BusinessFailure(
                p.SOURCE_SYSTEM_UNKNOWN, f"来源系统未注册: sourceSystem {body['sourceSystem']}"
            )

    def _check_products(self, items: list[dict[str, Any]], record: str) -> None:
        for index, item in enumerate(items):
            code = item["productCode"]
            product = self.catalog.get(code)
            if product is None:
                raise BusinessFailure(
                    p.PRODUCT_NOT_FOUND, f"商品不存在: {record} itemList[{index}] {code}"
                )
            if not product.procurable:
                raise BusinessFailure(
                    p.PRODUCT_NOT_PROCURABLE,
                    f"{p.REASON_NOT_PROCURABLE}: {record} itemList[{index}] {code} "
                    f"({product.not_procurable_reason})",
                )

    def cancel(self, body: dict[str, Any], _: FaultConfig) -> dict[str, Any]:
        record = "cancel-order request"
        so_id = v.required_str(body, "soId", record)
        cancel_time = v.required_int(body, "cancelTime", f"{record} soId={so_id}")
        reason = v.required_str(body, "cancelReason", f"{record} soId={so_id}")
        v.required_str(body, "sourceSystem", f"{record} soId={so_id}")
        self.stats.served("order_cancel")
        order = self.orders.cancel(so_id, str(cancel_time), reason)
        return {"soId": so_id, "retailOrderNo": order.retail_order_no, "cancelled": True}

    def reschedule(self, body: dict[str, Any], _: FaultConfig) -> dict[str, Any]:
        retail_no = v.required_str(body, "retailOrderNo", "reschedule request")
        record = f"reschedule request retailOrderNo={retail_no}"
        distribution = v.optional_int(body, "distributionTime", record)
        install = v.optional_int(body, "installTime", record)
        if distribution is None and install is None:
            raise BadRequest(f"{record}: send distributionTime and/or installTime (ms)")
        self.stats.served("order_reschedule")
        for field, value in (("distributionTime", distribution), ("installTime", install)):
            if value is not None:
                _check_end_of_day(field, value, record)
        self.orders.reschedule(retail_no, distribution, install)
        return {
            "retailOrderNo": retail_no,
            "distributionTime": distribution,
            "installTime": install,
        }

    def delivery_images(self, body: dict[str, Any], _: FaultConfig) -> list[str]:
        order_no = v.required_str(body, "orderNo", "delivery-image request")
        self.stats.served("delivery_images")
        return self.orders.delivery_images(order_no)

    def store_logistics(self, body: Any, _: FaultConfig) -> list[dict[str, Any]]:
        record = "store-logistics request"
        if not isinstance(body, list):
            raise BadRequest(f"{record}: body must be a bare JSON array of SO numbers")
        for index, code in enumerate(body):
            if not isinstance(code, str) or not code.strip():
                raise BadRequest(f"{record}: element [{index}]={code!r} must be an SO number")
        self.stats.served("store_logistics")
        return self.orders.store_logistics(body)


def _check_delivery_install(body: dict[str, Any], record: str) -> None:
    """deliveryInstall is "true" exactly when both times are given and equal (section 3.1)."""
    flag = v.required_str(body, "deliveryInstall", record)
    distribution = v.optional_int(body, "distributionTime", record)
    install = v.optional_int(body, "installTime", record)
    expected = "true" if distribution is not None and distribution == install else "false"
    if flag != expected:
        raise BadRequest(
            f"{record}: deliveryInstall={flag!r} but distributionTime={distribution} and "
            f"installTime={install}; send {expected!r}"
        )


def _items(body: dict[str, Any], record: str) -> list[dict[str, Any]]:
    items = body.get("itemList")
    if not isinstance(items, list) or not items:
        raise BadRequest(f"{record}: itemList is required; send a non-empty list of items")
    checked = []
    for index, item in enumerate(items):
        where = f"{record} itemList[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where}: each item must be a JSON object")
        qty = v.required_int(item, "itemQty", where)
        if qty <= 0:
            raise BadRequest(f"{where}: itemQty={qty} must be a positive integer")
        checked.append(
            {
                "productCode": v.product_code(item.get("productCode"), "productCode", where),
                "itemQty": qty,
                "retailPrice": v.required_decimal(item, "retailPrice", where),
                "discountAmount": v.required_decimal(item, "discountAmount", where),
                "actualPrice": v.required_decimal(item, "actualPrice", where),
            }
        )
        v.optional_bool(item, "isGift", where)
    return checked


def _check_totals(
    items: list[dict[str, Any]], total_qty: int, total_amt: Decimal, record: str
) -> None:
    qty = sum(item["itemQty"] for item in items)
    amount = sum((item["actualPrice"] * item["itemQty"] for item in items), Decimal(0))
    if qty != total_qty or amount != total_amt:
        raise BusinessFailure(
            p.AMOUNT_MISMATCH,
            f"金额不一致: {record} totalQty={total_qty} totalAmt={total_amt}, "
            f"but the items add up to {qty} pieces and {amount}",
            {"totalQty": qty, "totalAmt": amount},
        )


def _check_end_of_day(field: str, value: int, record: str) -> None:
    moment = datetime.fromtimestamp(value // 1000, p.SHANGHAI)
    if (moment.hour, moment.minute, moment.second) != (23, 59, 59):
        raise BusinessFailure(
            p.INVALID_TIME,
            f"时间必须为23:59:59: {record} {field}={value} is {moment:%Y-%m-%d %H:%M:%S} "
            "Asia/Shanghai; send that day's 23:59:59",
        )
