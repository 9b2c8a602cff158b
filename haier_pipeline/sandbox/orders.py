"""Order state of the YLH emulator: received orders, cancellations and their logistics.

The order book is what makes push idempotency testable: it refuses a repeated soId exactly as
the real system does, and counts every create request per soId so a test can assert that the
pipeline pushed an order once, even across a crash and a re-run.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox.catalog import IMAGE_HOST
from haier_pipeline.sandbox.wire import BusinessFailure

_CARRIERS = ("日日顺物流", "顺丰速运", "京东物流", "中通快递")
_SHIPPED = p.LOGISTICS_STATUSES.index("OUT_OF_WAREHOUSE")
_DELIVERED = p.LOGISTICS_STATUSES.index("DELIVERED")
_DESCRIPTIONS = {
    "CREATED": "订单已创建",
    "OUT_OF_WAREHOUSE": "商品已出库",
    "IN_TRANSIT": "运输中",
    "DELIVERED": "已送达",
    "INSTALLED": "已安装",
    "SIGNED": "用户已签收",
}


@dataclass
class SandboxOrder:
    """One received order and everything that happened to it since."""

    so_id: str
    retail_order_no: str
    request: dict[str, Any]
    logistics_company: str
    logistics_no: str
    sn_code: str
    distribution_time: int | None
    install_time: int | None
    cancelled: bool = False
    cancel_time: str | None = None
    cancel_reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def delivery_record_code(self) -> str:
        return f"{self.retail_order_no}.F1"

    @property
    def status_index(self) -> int:
        return p.LOGISTICS_STATUSES.index(self.events[-1]["status"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "soId": self.so_id,
            "retailOrderNo": self.retail_order_no,
            "request": copy.deepcopy(self.request),
            "cancelled": self.cancelled,
            "cancelTime": self.cancel_time,
            "cancelReason": self.cancel_reason,
            "distributionTime": self.distribution_time,
            "installTime": self.install_time,
            "logisticsStatus": self.events[-1]["status"],
            "events": copy.deepcopy(self.events),
        }


class OrderBook:
    """All orders the sandbox received, keyed by soId and by the retailOrderNo it issued."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._by_so: dict[str, SandboxOrder] = {}
        self._by_retail: dict[str, SandboxOrder] = {}
        self._attempts: Counter[str] = Counter()
        self._sequence = 0

    def note_attempt(self, so_id: str) -> None:
        with self._lock:
            self._attempts[so_id] += 1

    def create_count(self, so_id: str) -> int:
        """Well-formed create requests seen for this soId, accepted or refused."""
        with self._lock:
            return self._attempts[so_id]

    def check_new(self, so_id: str) -> None:
        """Refuse a soId already received, handing back its retailOrderNo (haier-api.md 3.1)."""
        order = self._by_so.get(so_id)
        if order is not None:
            raise BusinessFailure(
                p.SO_ID_DUPLICATE,
                f"子订单号重复: soId {so_id} was already received as {order.retail_order_no}",
                {"retailOrderNo": order.retail_order_no, "soId": so_id},
            )

    def create(self, request: dict[str, Any], first_code: str) -> SandboxOrder:
        """Store a validated order and issue its retailOrderNo; atomic with the duplicate check."""
        so_id = request["soId"]
        with self._lock:
            self.check_new(so_id)
            self._sequence += 1
            now = datetime.now(p.SHANGHAI)
            retail_no = f"SO.{now:%Y%m%d}.{self._sequence:06d}"
            order = self._new_order(request, retail_no, first_code)
            self._by_so[so_id] = order
            self._by_retail[retail_no] = order
            self._append_event(order, "CREATED")
        return order

    def _new_order(self, request: dict[str, Any], retail_no: str, first_code: str) -> SandboxOrder:
        h = hashlib.blake2b(f"{self._seed}:{retail_no}".encode(), digest_size=12).digest()
        digits = int.from_bytes(h[2:], "big")
        return SandboxOrder(
            so_id=request["soId"],
            retail_order_no=retail_no,
            request=request,
            logistics_company=_CARRIERS[h[0] % len(_CARRIERS)],
            logistics_no=f"RRS{digits % 10**12:012d}",
            sn_code=f"{first_code}{digits // 10**12 % 10**11:011d}",
            distribution_time=request.get("distributionTime"),
            install_time=request.get("installTime"),
        )

    def _append_event(self, order: SandboxOrder, status: str) -> dict[str, Any]:
        now_ms = time.time_ns() // 1_000_000
        previous = order.events[-1]["statusTime"] if order.events else 0
        event = {
            "deliveryRecordCode": order.delivery_record_code,
            "logisticsCompany": order.logistics_company,
            "logisticsNo": order.logistics_no,
            "snCode": order.sn_code,
            "status": status,
            "statusTime": max(now_ms, previous + 1),  # strictly increasing per order
            "description": _DESCRIPTIONS[status],
        }
        order.events.append(event)
        return event

    def advance(self, so_id: str) -> dict[str, Any]:
        """Move the order's logistics one status on; returns the new event."""
        with self._lock:
            order = self._by_so.get(so_id)
            if order is None:
                raise KeyError(f"no order with soId {so_id!r} in the sandbox")
            if order.cancelled:
                raise ValueError(f"order soId {so_id} is cancelled; its logistics cannot advance")
            index = order.status_index
            if index + 1 >= len(p.LOGISTICS_STATUSES):
                raise ValueError(f"order soId {so_id} is already {p.LOGISTICS_STATUSES[-1]}")
            event = self._append_event(order, p.LOGISTICS_STATUSES[index + 1])
            return dict(event)

    def cancel(self, so_id: str, cancel_time: str, reason: str) -> SandboxOrder:
        """Cancel before shipping; cancelling again answers like the first time (idempotent)."""
        with self._lock:
            order = self._order_by_so(so_id)
            if not order.cancelled and order.status_index >= _SHIPPED:
                raise BusinessFailure(
                    p.ORDER_ALREADY_SHIPPED,
                    f"订单已出库, 不能取消: soId {so_id} is {order.events[-1]['status']}",
                )
            if not order.cancelled:
                order.cancelled, order.cancel_time, order.cancel_reason = True, cancel_time, reason
            return order

    def reschedule(self, retail_no: str, distribution: int | None, install: int | None) -> None:
        with self._lock:
            order = self._order_by_retail(retail_no)
            if order.cancelled:
                raise BusinessFailure(p.ORDER_CANCELLED, f"订单已取消: {retail_no} is cancelled")
            if order.status_index >= _DELIVERED:
                raise BusinessFailure(
                    p.ORDER_ALREADY_DELIVERED, f"订单已送达, 不能改约: {retail_no}"
                )
            if distribution is not None:
                order.distribution_time = distribution
            if install is not None:
                order.install_time = install

    def delivery_images(self, retail_no: str) -> list[str]:
        """One photo per step reached from DELIVERED on (delivery, installation, signature)."""
        with self._lock:
            order = self._order_by_retail(retail_no)
            steps = max(0, order.status_index - _DELIVERED + 1)
        return [f"{IMAGE_HOST}/delivery/{retail_no}/{n}.jpg" for n in range(1, steps + 1)]

    def logistics_lists(self, order_code: str, record_code: str | None) -> dict[str, Any]:
        """The 2.4 answer: each event filed under one of three lists, chosen by a hash."""
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in p.LOGISTICS_LISTS}
        with self._lock:
            order = self._order_by_retail(order_code)
            events = [dict(e) for e in order.events]
        for event in events:
            if record_code is None or event["deliveryRecordCode"] == record_code:
                key = f"{self._seed}:{order_code}:{event['status']}".encode()
                pick = hashlib.blake2b(key, digest_size=1).digest()[0] % len(p.LOGISTICS_LISTS)
                lists[p.LOGISTICS_LISTS[pick]].append(event)
        return lists

    def store_logistics(self, order_codes: list[str]) -> list[dict[str, Any]]:
        """The 3.5 answer: known SO numbers only, each with its carrier, number and serial."""
        answer = []
        with self._lock:
            for code in order_codes:
                order = self._by_retail.get(code)
                if order is None:
                    continue
                shipped = order.status_index >= _SHIPPED
                item = {
                    "logisticsCompany": order.logistics_company,
                    "logisticsNo": order.logistics_no,
                    "snCode": order.sn_code,
                }
                answer.append(
                    {
                        "orderCode": code,
                        "deliveryRecordCode": order.delivery_record_code,
                        "logisticsList": [item] if shipped else [],
                    }
                )
        return answer

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {so_id: order.as_dict() for so_id, order in self._by_so.items()}

    def _order_by_so(self, so_id: str) -> SandboxOrder:
        order = self._by_so.get(so_id)
        if order is None:
            raise BusinessFailure(p.ORDER_NOT_FOUND, f"订单不存在: no order with soId {so_id}")
        return order

    def _order_by_retail(self, retail_no: str) -> SandboxOrder:
        order = self._by_retail.get(retail_no)
        if order is None:
            raise BusinessFailure(p.ORDER_NOT_FOUND, f"订单不存在: no order {retail_no}")
        return order
