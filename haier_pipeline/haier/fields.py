"""The one map from Haier's wire field names to ours, one table per record kind.

Haier's names are misspelt (productGroupNamd, productLageUrls, isTranfer) and some are
sandbox conventions (haier-api.md says which). Keeping every response field name here means
that when a real gateway answers differently, this file is the only one to change. Keys are
wire names (a dot walks into a nested object); values are the attribute names of
``haier_pipeline.haier.records``.
"""

from __future__ import annotations

from types import MappingProxyType

# Response envelope (haier-api.md section 1).
SUCCESS = "success"
CODE = "code"
MESSAGE = "message"
DATA = "data"

# Token answers (2.0 and 3.0); the token may also sit under DATA.
ACCESS_TOKEN = "access_token"
EXPIRES_IN = "expires_in"

PRODUCT = MappingProxyType(
    {
        "productCode": "product_code",
        "productModel": "product_model",
        "productGroupNamd": "product_group",
        "productBrandName": "brand",
        "productImageUrl": "image_url",
        "productLageUrls": "leaflet_urls",
        "isSales": "is_procurable",
        "noSalesReason": "not_procurable_reason",
    }
)

PRICE = MappingProxyType(
    {
        "productCode": "product_code",
        "supplyPrice": "supply_price",
        "invoicePrice": "invoice_price",
        "stockRebatePolicy": "direct_discount_rate",
        "rebateMoney": "rebate_money",
        "rebatePolicyType": "rebate_type",
        "isSales": "is_procurable",
        "reason": "price_note",
    }
)

STOCK = MappingProxyType(
    {
        "secCode": "warehouse_code",
        "stock": "stock_qty",
        "warehouseGrade": "warehouse_grade",
        "timelinessData.cutTime": "cut_time",
        "timelinessData.achieveUserOrderCut": "expected_delivery_date",
        "timelinessData.hour": "delivery_hours",
        "timelinessData.isTranfer": "is_transfer",
    }
)

# The three lists of the logistics answer (2.4) and the ``source`` we record for each.
LOGISTICS_EVENT_LISTS = MappingProxyType(
    {
        "getAllLogisticsInfoByOrderCode": "cloud_warehouse",
        "getStockDeliveryLogisticsRecord": "zhihuibao",
        "getStockDeliveryLogisticsRecordThirdparty": "third_party",
    }
)

LOGISTICS_EVENT = MappingProxyType(
    {
        "deliveryRecordCode": "delivery_record_code",
        "logisticsCompany": "logistics_company",
        "logisticsNo": "logistics_no",
        "snCode": "sn_code",
        "status": "status",
        "statusTime": "status_time",
        "description": "description",
    }
)

# Logistics numbers by SO (3.5): one entry per order, each with a list of parcels.
LOGISTICS_NUMBER_ORDER = MappingProxyType(
    {
        "orderCode": "order_code",
        "deliveryRecordCode": "delivery_record_code",
        "logisticsList": "parcels",
    }
)

LOGISTICS_NUMBER_PARCEL = MappingProxyType(
    {
        "logisticsCompany": "logistics_company",
        "logisticsNo": "logistics_no",
        "snCode": "sn_code",
    }
)

BALANCE = MappingProxyType(
    {
        "saleGroupCode": "sale_group_code",
        "saleGroupName": "sale_group_name",
        "payerAccountCode": "payer_account_code",
        "payerAccountName": "payer_account_name",
        "payerAccountBalance": "balance",
    }
)

# The create-order answer (3.1), also carried by an SO_ID_DUPLICATE refusal.
ORDER_PUSH = MappingProxyType(
    {
        "soId": "so_id",
        "retailOrderNo": "retail_order_no",
    }
)

# The order's own sub-order number in the create-order body we send.
ORDER_SO_ID = "soId"
