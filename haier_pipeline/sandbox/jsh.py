"""The JSH open platform endpoints (haier-api.md section 2): wire records and their rules.

Field names and their quirks (productGroupNamd, productLageUrls, money as number or string)
live here and nowhere else, so a change in the real gateway is a change in this file only.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox import validate as v
from haier_pipeline.sandbox.api import Api
from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.sandbox.catalog import SandboxCatalog, SandboxProduct, StockLevel
from haier_pipeline.sandbox.faults import FaultConfig, malformed_variant
from haier_pipeline.sandbox.orders import OrderBook
from haier_pipeline.sandbox.stats import SandboxStats
from haier_pipeline.sandbox.wire import BadRequest, BusinessFailure, Raw, encode

_SALE_GROUPS = (("SG10", "海尔智家-冰冷事业部"), ("SG20", "海尔智家-水家电事业部"))


def product_record(product: SandboxProduct) -> dict[str, Any]:
    record: dict[str, Any] = {
        "productCode": product.code,
        "productModel": product.model,
        "productGroupNamd": product.group,
        "productBrandName": product.brand,
        "productImageUrl": product.image_url,
        "productLageUrls": product.leaflet_urls,
        "isSales": "1" if product.procurable else "0",
    }
    if not product.procurable:
        record["noSalesReason"] = product.not_procurable_reason
    return record


def _unknown_product_record(code: str) -> dict[str, Any]:
    return {"productCode": code, "isSales": "0", "noSalesReason": p.REASON_UNKNOWN_PRODUCT}


def _broken_product_record(product: SandboxProduct) -> dict[str, Any]:
    record = product_record(product)
    if malformed_variant(product.code):
        record["productLageUrls"] = ",".join(product.leaflet_urls)
    else:
        del record["productCode"]
    return record


def _money(product: SandboxProduct, amount: Decimal) -> Decimal | str:
    return str(amount) if product.money_as_text else amount


def price_record(code: str, product: SandboxProduct | None) -> dict[str, Any]:
    if product is None or not product.procurable:
        return {"productCode": code, "isSales": "0", "reason": p.REASON_NOT_PROCURABLE}
    record: dict[str, Any] = {"productCode": code}
    if product.supply_price is not None and product.invoice_price is not None:
        record["supplyPrice"] = _money(product, product.supply_price)
        record["invoicePrice"] = _money(product, product.invoice_price)
    elif not product.price_key_absent:
        record["supplyPrice"] = None
        record["invoicePrice"] = None
    record["stockRebatePolicy"] = _money(product, product.discount_rate)
    record["rebateMoney"] = _money(product, product.rebate_money)
    record["rebatePolicyType"] = product.rebate_type
    record["isSales"] = "1"
    if not product.has_price:
        record["reason"] = p.REASON_NO_PRICE
    return record


def stock_record(level: StockLevel, today: datetime, broken: bool) -> dict[str, Any]:
    return {
        "secCode": level.warehouse_code,
        "stock": "N/A" if broken else str(level.qty),
        "warehouseGrade": level.grade,
        "timelinessData": {
            "cutTime": level.cut_time,
            "achieveUserOrderCut": f"{today + timedelta(days=level.delivery_days):%Y-%m-%d}",
            "hour": str(level.hours),
            "isTranfer": "1" if level.transfer else "0",
        },
    }


class JshApi(Api):
    """Answers the five JSH calls for one catalog and one account."""

    def __init__(
        self,
        catalog: SandboxCatalog,
        account: SandboxAccount,
        orders: OrderBook,
        stats: SandboxStats,
    ) -> None:
        super().__init__(catalog, account, orders, stats)
        self._fragments: list[str] | None = None
        self._positions: dict[str, int] = {}
        self._full: Raw | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Encode the procurable catalog once, so 'all products' costs a string copy per call."""
        with self._lock:
            if self._fragments is not None:
                return
            procurable = self.catalog.procurable
            self._fragments = [encode(product_record(product)) for product in procurable]
            self._positions = {product.code: i for i, product in enumerate(procurable)}
            self._full = Raw("[" + ",".join(self._fragments) + "]")

    def products(self, body: dict[str, Any], faults: FaultConfig) -> Any:
        record = "procurable-products request"
        customer = v.required_str(body, "customerCode", record)
        supplier = v.required_str(body, "supplierCode", record)
        send_to = v.optional_str(body, "sendToCode", record)
        if supplier == p.SUPPLIER_HAIER and send_to is None:
            raise BadRequest(f"{record}: sendToCode is required when supplierCode is 1001")
        if v.required_str(body, "searchType", record) != p.SEARCH_TYPE:
            raise BadRequest(f"{record}: searchType must be {p.SEARCH_TYPE}")
        password = v.required_str(body, "passWord", record)
        codes = v.code_list(body, "productCodes", record, required=False)
        self._check_customer(customer, send_to)
        if supplier != self.account.supplier_code:
            raise BusinessFailure(p.SUPPLIER_NOT_FOUND, f"供应商不存在: supplierCode {supplier}")
        self._check_password(password, self.account.password, "passWord")
        self.stats.served("products", codes)
        if not codes:
            self.stats.event("full_catalog")
            return self._all_procurable(faults.malformed_codes)
        return [self._product(code, faults) for code in codes]

    def _product(self, code: str, faults: FaultConfig) -> dict[str, Any]:
        product = self.catalog.get(code)
        if product is None:
            return _unknown_product_record(code)
        if code in faults.malformed_codes:
            return _broken_product_record(product)
        return product_record(product)

    def _all_procurable(self, malformed: frozenset[str]) -> Raw:
        self.warm()
        assert self._fragments is not None and self._full is not None
        broken = [code for code in malformed if code in self._positions]
        if not broken:
            return self._full
        fragments = list(self._fragments)
        for code in broken:
            product = self.catalog.get(code)
            assert product is not None
            fragments[self._positions[code]] = encode(_broken_product_record(product))
        return Raw("[" + ",".join(fragments) + "]")

    def prices(self, body: dict[str, Any], faults: FaultConfig) -> list[dict[str, Any]]:
        record = "price request"
        customer = v.required_str(body, "customerCode", record)
        send_to = v.required_str(body, "sendToCode", record)
        if v.required_str(body, "priceType", record) != p.PRICE_TYPE:
            raise BadRequest(f"{record}: priceType must be {p.PRICE_TYPE}")
        password = v.required_str(body, "passWord", record)
        codes = v.code_list(body, "productCodes", record, required=True)
        self._check_customer(customer, send_to)
        self._check_password(password, self.account.password, "passWord")
        self.stats.served("prices", codes)
        answer = []
        for code in codes:
            entry = price_record(code, self.catalog.get(code))
            if code in faults.malformed_codes:
                entry["supplyPrice"] = "abc"
            answer.append(entry)
        return answer

    def stock(self, body: dict[str, Any], faults: FaultConfig) -> Any:
        record = "stock request"
        sales = v.required_str(body, "salesCode", record)
        sender = v.required_str(body, "senderCode", record)
        code = v.product_code(body.get("productCode"), "productCode", record)
        county = v.county_code(body, "countyCode", record)
        if v.required_str(body, "source", record) != p.STOCK_SOURCE:
            raise BadRequest(f"{record}: source must be {p.STOCK_SOURCE}")
        password = v.required_str(body, "sellerPassword", record)
        self._check_customer(sales, sender)
        self._check_password(password, self.account.seller_password, "sellerPassword")
        if code not in self.catalog:
            raise BusinessFailure(p.PRODUCT_NOT_FOUND, f"商品不存在: productCode {code}")
        if code in faults.unsold_codes:  # a records-level refusal, worded alike for every key
            raise BusinessFailure(p.PRODUCT_NOT_SOLD, p.REASON_NOT_SOLD_HERE)
        self.stats.served("stock", [code])
        self.stats.stock_query(code, county)
        today = datetime.now(p.SHANGHAI)
        broken = code in faults.malformed_codes
        levels = [stock_record(level, today, broken) for level in self.catalog.stock(code, county)]
        return levels if len(levels) > 1 else levels[0]

    def logistics(self, body: dict[str, Any], _: FaultConfig) -> dict[str, Any]:
        record = "logistics request"
        order_code = v.required_str(body, "orderCode", record)
        record_code = v.optional_str(body, "deliveryRecordCode", record)
        v.optional_int(body, "memberId", record)
        seller = v.required_str(body, "sellerCode", record)
        password = v.required_str(body, "sellerPassword", record)
        self._check_customer(seller, None)
        self._check_password(password, self.account.seller_password, "sellerPassword")
        self.stats.served("logistics")
        return self.orders.logistics_lists(order_code, record_code)

    def balance(self, body: dict[str, Any], _: FaultConfig) -> list[dict[str, Any]]:
        record = "balance request"
        customer = v.required_str(body, "customerCode", record)
        password = v.required_str(body, "customerPassword", record)
        self._check_customer(customer, None)
        self._check_password(password, self.account.customer_password, "customerPassword")
        self.stats.served("balance")
        return self._balances()

    def _balances(self) -> list[dict[str, Any]]:
        """One or two sale groups, fixed per seed; the second sends its balance as a string."""
        rng = random.Random(f"balance:{self.catalog.seed}")
        groups = _SALE_GROUPS[: 1 + rng.randrange(2)]
        answer = []
        for index, (code, name) in enumerate(groups):
            balance = Decimal(rng.randrange(-5_000_000, 500_000_000)).scaleb(-2)
            answer.append(
                {
                    "saleGroupCode": code,
                    "saleGroupName": name,
                    "payerAccountCode": self.account.customer_code,
                    "payerAccountName": self.account.customer_name,
                    "payerAccountBalance": str(balance) if index else balance,
                }
            )
        return answer

    def _check_customer(self, customer: str, send_to: str | None) -> None:
        if customer != self.account.customer_code:
            raise BusinessFailure(p.CUSTOMER_NOT_FOUND, f"客户不存在: customer code {customer}")
        if send_to is not None and send_to != self.account.send_to_code:
            raise BusinessFailure(p.SEND_TO_NOT_FOUND, f"送达方不存在: ship-to code {send_to}")

    @staticmethod
    def _check_password(given: str, expected: str, field: str) -> None:
        if given != expected:
            raise BusinessFailure(p.PASSWORD_WRONG, f"密码错误: {field} does not match")
