"""Every Haier endpoint path, in one place (haier-api.md sections 2 and 3).

JSH paths are appended to ``JshSettings.base_url``. YLH paths are a service segment plus a
path; the test environment suffixes each service segment with ``-dev``, so the segments are a
:class:`YlhServices` value chosen per environment rather than spelt inside the paths.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import MappingProxyType

# JSH open platform (2.0-2.5).
JSH_TOKEN_FALLBACK = "/oauth2/token"
JSH_PRODUCTS = (
    "/yilihuo/jsh-service-goods-mall-search/api/product-info/"
    "procurable-products-out/check-procurable-products"
)
JSH_PRICES = (
    "/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/"
    "price-query/pt-out-list-price"
)
JSH_STOCK = "/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open"
JSH_LOGISTICS = (
    "/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/"
    "get-thirdparty-logistics-info-by-order-code-auth"
)
JSH_BALANCE = (
    "/yilihuo/jsh-service-finance-mall/api/page/account/account-balance-manager/"
    "get-payer-account-balance-by-customer-code"
)

SENDS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        JSH_PRODUCTS: ("customer_code", "send_to_code", "supplier_code", "password"),
        JSH_PRICES: ("customer_code", "send_to_code", "password"),
        JSH_STOCK: ("customer_code", "send_to_code", "seller_password"),
        JSH_LOGISTICS: ("customer_code", "seller_password"),
        JSH_BALANCE: ("customer_code", "customer_password"),
    }
)
"""The account settings each JSH endpoint's calls send (``JshSettings`` fields, the keys of
the accounts file), besides the token. Haier's business codes are not published: when every
call of an endpoint is refused alike and Haier's code is not one we know, the fix is among
these settings, and a message can name them. The client id and secret are not listed: a
refusal comes with a token they earned."""


@dataclass(frozen=True)
class YlhServices:
    """The service segments of YLH URLs."""

    auth: str = "ylh-cloud-mgt-auth"
    jst_order: str = "ylh-cloud-service-jst-order"
    order: str = "ylh-cloud-service-order"
    stock: str = "ylh-cloud-service-stock"

    def suffixed(self, suffix: str) -> YlhServices:
        """Every segment with ``suffix`` appended (the test environment uses ``-dev``)."""
        return replace(self, **{f.name: getattr(self, f.name) + suffix for f in fields(self)})

    def url(self, base_url: str, endpoint: YlhEndpoint) -> str:
        return f"{base_url.rstrip('/')}/{getattr(self, endpoint.service)}{endpoint.path}"

    def auth_url(self, base_url: str) -> str:
        """The default token URL (3.0) for a YLH base URL."""
        return self.url(base_url, YLH_TOKEN)


YLH_SERVICES = YlhServices()
YLH_TEST_SERVICES = YLH_SERVICES.suffixed("-dev")


@dataclass(frozen=True)
class YlhEndpoint:
    service: str  # a field name of YlhServices
    path: str


YLH_TOKEN = YlhEndpoint("auth", "/oauth/token")
YLH_CREATE_ORDER = YlhEndpoint("jst_order", "/api/page/hmm/retailorder/receive-hmm-retail-order")
YLH_CANCEL_ORDER = YlhEndpoint("jst_order", "/api/page/hmm/retailorder/cancel-hmm-retail-order")
YLH_RESCHEDULE = YlhEndpoint("order", "/api/page/retailorder/hmm/update-distribution-time")
YLH_DELIVERY_IMAGES = YlhEndpoint(
    "order", "/api/page/retailorder/search/get-retail-order-delivery-img"
)
YLH_LOGISTICS_NUMBERS = YlhEndpoint(
    "stock", "/api/composite/stock/logistics/get-store-logistics-by-order-code"
)
