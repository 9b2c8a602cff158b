"""Valid order files for tests, here and in the Dagster job's tests.

Amounts are written as strings ("1999.00") so the dict is plain JSON (json.dumps cannot write a
Decimal) and still exact. sourceSystem, shopName and sellerCode are left out, as most shops do,
so parsing needs ``DEFAULTS`` (or overrides that supply them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders import OrderDefaults
from haier_pipeline.orders.pusher import MAX_FILES_PER_RUN, AccountLink, OrderPusher
from haier_pipeline.runlog import Log
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.storage.warehouse import Warehouse

DEFAULTS = OrderDefaults(source_system="TEST-SYS", shop_name="测试旗舰店", seller_code="8800633175")
CREATE_TIME_MS = 1_746_000_000_000  # 2025-04-30 08:00:00 UTC


def make_order_dict(
    so_id: str,
    items: Sequence[tuple[str, int, Decimal | str | int]] = (("GA0SZC00U", 1, "1999.00"),),
    county_code: str = "110101",
    **overrides: Any,
) -> dict[str, Any]:
    """An order whose totals agree with ``items`` (code, quantity, unit price).

    ``overrides`` replace top-level fields by their JSON name (e.g. ``totalAmt="1.00"``).
    """
    lines = [(code, qty, Decimal(str(price))) for code, qty, price in items]
    order: dict[str, Any] = {
        "soId": so_id,
        "onlineNo": f"ONLINE-{so_id}",
        "countyCode": county_code,
        "consigneeName": "张三",
        "consigneeMobile": "13800138000",
        "province": "北京市",
        "city": "北京市",
        "area": "东城区",
        "town": "东华门街道",
        "detailAddress": "王府井大街 1 号",
        "totalQty": sum(qty for _, qty, _ in lines),
        "totalAmt": str(sum((price * qty for _, qty, price in lines), Decimal(0))),
        "createTime": CREATE_TIME_MS,
        "itemList": [
            {
                "productCode": code,
                "itemQty": qty,
                "retailPrice": str(price),
                "discountAmount": "0",
                "actualPrice": str(price),
            }
            for code, qty, price in lines
        ],
    }
    order.update(overrides)
    return order


def write_order_file(directory: Path, order: Mapping[str, Any], name: str | None = None) -> Path:
    """Write as a shop should: a temporary name first, then one rename into the inbox."""
    path = directory / (name or f"{order['soId']}.json")
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(json.dumps(order, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(temporary, path)
    return path


def sandbox_pusher(
    sandbox: SandboxServer,
    clients: tuple[JshClient, YlhClient],
    warehouse: Warehouse,
    inbox: Path,
    log: Log,
    settle_s: float = 0,
    set_aside_s: float = 0,
    max_files: int = MAX_FILES_PER_RUN,
) -> OrderPusher:
    """The real pusher for the sandbox's account; no settle window, and an unreadable file
    set aside at once, unless a test wants otherwise."""
    account = sandbox.account
    defaults = OrderDefaults(account.source_system, account.shop_name, account.customer_code)
    link = AccountLink(DEFAULT_ACCOUNT, defaults, *clients)
    return OrderPusher(
        [link],
        warehouse,
        inbox,
        log,
        settle_s=settle_s,
        set_aside_s=set_aside_s,
        max_files=max_files,
    )
