"""The order file format: every field, what it holds and its limits, defined once.

validation.py reads files by this table, docs/orders.md describes it (a test keeps the two in
step), and the callback parser takes ``ORDER_ID`` from here for the order numbers Haier echoes
back. The limits exist because an order file comes from outside: soIds with ``/``, ``..`` or
NUL, or a 50 MB remark, were once pushed as they stood. The caps are far above what a real
order holds (the longest Chinese postal address is well under 100 characters) and far below
what would hurt: YLH, DuckDB and the logs all receive these values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from haier_pipeline.haier.validation import COUNTY_CODE, PRODUCT_CODE

ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""soId and onlineNo: they key rows, name files and travel in callbacks, so no path
separators, dots, spaces or control characters."""
ORDER_ID_RULE = "letters, digits, - and _ only, at most 64 characters"

MAX_FILE_BYTES = 1_000_000
"""An order is a few kilobytes; a larger file is refused after reading only its first bytes."""
MAX_NESTING = 16
"""An order nests three levels (order, itemList, item); deeper is not an order."""
MAX_ITEMS = 500
"""Lines of one order; a shop with more splits the order into sub-orders (soIds)."""

MAX_QUANTITY = 100_000
"""itemQty and totalQty; more is a typing mistake, not an order."""

MOBILE = re.compile(r"1[0-9]{10}")
ACCOUNT = re.compile(r"[a-z0-9_]{1,64}")
"""An account name as HAIER_ACCOUNTS_FILE declares them (``[accounts.<name>]``)."""


@dataclass(frozen=True)
class Field:
    """One field: ``hint`` is worded to follow "add" or "write" in a message."""

    hint: str
    max_chars: int | None = None
    pattern: re.Pattern[str] | None = None
    rule: str | None = None
    """What ``pattern`` allows, in words, when the hint alone does not say it."""


FIELDS: dict[str, Field] = {
    "account": Field(
        "the Haier account the order belongs to, a name from HAIER_ACCOUNTS_FILE (may be left "
        "out when one account is configured)",
        64,
        ACCOUNT,
        "lower-case letters, digits and _ only",
    ),
    "soId": Field(
        "the shop's sub-order number as text (unique per order)", 64, ORDER_ID, ORDER_ID_RULE
    ),
    "onlineNo": Field("the platform order number as text", 64, ORDER_ID, ORDER_ID_RULE),
    "countyCode": Field(
        "the 6-digit county code of the delivery address, e.g. 110101", 6, COUNTY_CODE
    ),
    "consigneeName": Field("the consignee's name", 100),
    "consigneeMobile": Field("the consignee's 11-digit mobile number starting with 1", 11, MOBILE),
    "province": Field("the delivery province", 50),
    "city": Field("the delivery city", 50),
    "area": Field("the delivery district", 50),
    "town": Field("the delivery town or street", 50),
    "detailAddress": Field("the street address", 200),
    "totalQty": Field("the total quantity of all items as an integer"),
    "totalAmt": Field("the order total, the sum of actualPrice × itemQty"),
    "createTime": Field("the order time in milliseconds since the epoch, e.g. 1746000000000"),
    "distributionTime": Field("the delivery time in milliseconds since the epoch"),
    "installTime": Field("the installation time in milliseconds since the epoch"),
    "remark": Field("the remark as text", 500),
    "governmentOrder": Field("true or false (national-subsidy order)"),
    "deliveryInstall": Field('"true" or "false"'),
    "itemList": Field(f"the list of ordered items (1 to {MAX_ITEMS})"),
    "sourceSystem": Field("the source system name", 100),
    "shopName": Field("the shop name", 100),
    "sellerCode": Field("the seller code", 100),
    "productCode": Field("the 9-character Haier product code, e.g. GA0SZC00U", 9, PRODUCT_CODE),
    "itemQty": Field("the quantity as an integer"),
    "retailPrice": Field("the unit retail price, e.g. 1999.00"),
    "discountAmount": Field("the unit discount, 0 when there is none"),
    "actualPrice": Field("the unit price actually paid, e.g. 1899.00"),
    "isGift": Field("true or false"),
}

ITEM_FIELDS = frozenset(
    {"productCode", "itemQty", "retailPrice", "discountAmount", "actualPrice", "isGift"}
)
ORDER_FIELDS = frozenset(FIELDS) - ITEM_FIELDS
