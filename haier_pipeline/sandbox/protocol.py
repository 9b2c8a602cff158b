"""Every path, endpoint name and failure code the sandbox answers with, in one place.

haier-api.md asks that each "sandbox convention" live in one spot so it can change when a real
gateway answers differently; the handlers refer to these names only.
"""

from __future__ import annotations

from datetime import timedelta, timezone

# China has had no daylight saving since 1991, so a fixed offset is exact and needs no tzdata.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# JSH open platform (haier-api.md section 2), relative to the base URL.
JSH_TOKEN_PATHS = ("/oauth2/auth", "/oauth2/token")
JSH_PATHS = {
    "products": "/yilihuo/jsh-service-goods-mall-search/api/product-info/"
    "procurable-products-out/check-procurable-products",
    "prices": "/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/"
    "price-query/pt-out-list-price",
    "stock": "/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open",
    "logistics": "/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/"
    "get-thirdparty-logistics-info-by-order-code-auth",
    "balance": "/yilihuo/jsh-service-finance-mall/api/page/account/account-balance-manager/"
    "get-payer-account-balance-by-customer-code",
}

# YLH order system (section 3), relative to the YLH base URL, which is {base_url}/ylh here.
YLH_PREFIX = "/ylh"
YLH_TOKEN_PATH = "/ylh-cloud-mgt-auth/oauth/token"
YLH_PATHS = {
    "order_create": "/ylh-cloud-service-jst-order/api/page/hmm/retailorder/"
    "receive-hmm-retail-order",
    "order_cancel": "/ylh-cloud-service-jst-order/api/page/hmm/retailorder/cancel-hmm-retail-order",
    "order_reschedule": "/ylh-cloud-service-order/api/page/retailorder/hmm/"
    "update-distribution-time",
    "delivery_images": "/ylh-cloud-service-order/api/page/retailorder/search/"
    "get-retail-order-delivery-img",
    "store_logistics": "/ylh-cloud-service-stock/api/composite/stock/logistics/"
    "get-store-logistics-by-order-code",
}
YLH_SYSTEM_NAME = "ylh-open-api"

ADMIN_PREFIX = "/_sandbox/"

MAX_CODES_PER_CALL = 20
SUPPLIER_HAIER = "1001"
SEARCH_TYPE = "PTJSH"
PRICE_TYPE = "PT"
STOCK_SOURCE = "JSH-B"

# Business failure codes (HTTP 200, success false).
CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
SEND_TO_NOT_FOUND = "SEND_TO_NOT_FOUND"
SUPPLIER_NOT_FOUND = "SUPPLIER_NOT_FOUND"
PASSWORD_WRONG = "PASSWORD_WRONG"
PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
PRODUCT_NOT_PROCURABLE = "PRODUCT_NOT_PROCURABLE"
PRODUCT_NOT_SOLD = "PRODUCT_NOT_SOLD"
SELLER_NOT_FOUND = "SELLER_NOT_FOUND"
SOURCE_SYSTEM_UNKNOWN = "SOURCE_SYSTEM_UNKNOWN"
SO_ID_DUPLICATE = "SO_ID_DUPLICATE"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
ORDER_ALREADY_SHIPPED = "ORDER_ALREADY_SHIPPED"
ORDER_CANCELLED = "ORDER_CANCELLED"
ORDER_ALREADY_DELIVERED = "ORDER_ALREADY_DELIVERED"
INVALID_TIME = "INVALID_TIME"

# Reasons that travel in records (Chinese, as the gateway writes them).
REASON_UNKNOWN_PRODUCT = "商品编码不存在"
REASON_NOT_PROCURABLE = "商品暂不可采"
REASON_NO_PRICE = "价格未生效"
REASON_NOT_SOLD_HERE = "商品未在该区域销售"
NOT_PROCURABLE_REASONS = ("产品未投放", "产品已停产", "区域未授权", "渠道未开通")

LOGISTICS_STATUSES = (
    "CREATED",
    "OUT_OF_WAREHOUSE",
    "IN_TRANSIT",
    "DELIVERED",
    "INSTALLED",
    "SIGNED",
)
# The three lists of the 2.4 answer; each event lands in one of them by a hash.
LOGISTICS_LISTS = (
    "getAllLogisticsInfoByOrderCode",
    "getStockDeliveryLogisticsRecord",
    "getStockDeliveryLogisticsRecordThirdparty",
)
