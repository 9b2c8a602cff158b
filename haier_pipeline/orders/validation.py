"""Turn a shop's order file into an ``Order``, and check it against the catalog and stock.

Order files are written and fixed by people, so every check runs and all problems come back in
one ``InvalidOrder``: a round trip per mistake is what makes order intake slow. Each problem
names the field (with the item index) and says what to write instead. Types are strict (text in
quotes, quantities and times as integers, no binary floats for money) because the values go on
to YLH, which is strict too, and a guess here would be a wrong order there.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.orders.fields import (
    FIELDS,
    ITEM_FIELDS,
    MAX_ITEMS,
    MAX_QUANTITY,
    ORDER_FIELDS,
    ORDER_ID,
)
from haier_pipeline.orders.model import (
    Order,
    OrderDefaults,
    OrderItem,
    from_epoch_ms,
    is_delivery_install,
)

_AMOUNT_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# Outside 2000..2100 a "millisecond" time is almost always seconds or microseconds by mistake.
_EARLIEST_MS = 946_684_800_000
_LATEST_MS = 4_102_444_800_000
# C0 and C1 controls but tab, line feed and carriage return; lone surrogates cannot be UTF-8.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MONEY_DIGITS = 16  # DECIMAL(18,2) in DuckDB: 16 digits before the point
_MAX_DIGITS = 10  # a whole number with more digits is no quantity (and costly to convert)
_SHOWN_CHARS = 40  # of a value quoted in a message
_PROBLEMS_SHOWN = 20  # in a message; InvalidOrder.problems keeps them all
_CONFIGURED_BY = {
    "sourceSystem": "HAIER_SOURCE_SYSTEM",
    "shopName": "HAIER_SHOP_NAME",
    "sellerCode": "the seller code setting",
}


class InvalidOrder(ValueError):
    """An order file that cannot be pushed as it stands; ``problems`` lists every reason."""

    def __init__(self, so_id: str | None, source: str, problems: list[str]) -> None:
        # All three go to ValueError so that the exception pickles (Dagster ships errors around).
        super().__init__(so_id, source, problems)
        self.so_id = so_id
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        record = f"order {self.so_id!r}" if self.so_id else "order"
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        shown = self.problems[:_PROBLEMS_SHOWN]
        lines = "".join(f"\n  - {problem}" for problem in shown)
        if len(self.problems) > len(shown):
            lines += f"\n  - and {len(self.problems) - len(shown)} more"
        return f"{record} in {self.source} is invalid ({count}):{lines}"


def order_account(raw: Any, accounts: Sequence[str], *, source: str) -> str:
    """The account an order file belongs to, or InvalidOrder saying why none can be chosen.

    With one account configured a file may leave ``account`` out; with several it must name
    one, since each account has its own catalog, credentials and YLH orders, and a guess
    would push the order on someone else's account.
    """
    named = raw.get("account") if isinstance(raw, Mapping) else None
    listed = ", ".join(accounts)
    if named is None and len(accounts) == 1:
        return accounts[0]
    if not isinstance(raw, Mapping):
        raise InvalidOrder(None, source, [f"the order is {_show(raw)}; write one JSON object"])
    if isinstance(named, str) and named in accounts:
        return named
    if named is None:
        problem = f"account: missing; several Haier accounts are configured, name one of {listed}"
    else:
        problem = (
            f"account: {_show(named)} is not a configured Haier account; write one of {listed}"
        )
    raise InvalidOrder(record_id(raw), source, [problem])


def parse_order(
    raw: Mapping[str, Any],
    defaults: OrderDefaults,
    *,
    source: str,
    account: str = DEFAULT_ACCOUNT,
) -> Order:
    """Build an Order from a file's JSON object, or raise InvalidOrder listing every problem.

    ``raw`` must come from ``read_order_file`` (or any json.loads with parse_float=Decimal):
    a binary float for money is refused, since it has already lost the exact amount.
    ``account`` is the one ``order_account`` chose; ``defaults`` are that account's.
    """
    if not isinstance(raw, Mapping):
        raise InvalidOrder(None, source, [f"the order is {_show(raw)}; write one JSON object"])
    problems: list[str] = []
    fields = _Fields(raw, "", problems)
    _report_unknown(raw, ORDER_FIELDS, "", problems)
    values: dict[str, Any] = {
        "so_id": fields.text("soId"),
        "online_no": fields.text("onlineNo"),
        "county_code": fields.text("countyCode"),
        "consignee_name": fields.text("consigneeName"),
        "consignee_mobile": fields.text("consigneeMobile"),
        "province": fields.text("province"),
        "city": fields.text("city"),
        "area": fields.text("area"),
        "town": fields.text("town", required=False),
        "detail_address": fields.text("detailAddress"),
        "total_qty": fields.whole("totalQty"),
        "total_amt": fields.money("totalAmt"),
        "create_time": fields.epoch_ms("createTime"),
        "distribution_time": fields.epoch_ms("distributionTime", required=False),
        "install_time": fields.epoch_ms("installTime", required=False),
        "remark": fields.text("remark", required=False),
        "government_order": fields.flag("governmentOrder"),
        "source_system": fields.configured("sourceSystem", defaults.source_system),
        "shop_name": fields.configured("shopName", defaults.shop_name),
        "seller_code": fields.configured("sellerCode", defaults.seller_code),
        "items": _parse_items(raw.get("itemList"), problems),
        "account": account,
    }
    _check_totals(values, problems)
    _check_delivery_install(raw.get("deliveryInstall"), values, problems)
    if problems:
        raise InvalidOrder(record_id(raw), source, problems)
    return Order(**values)


def check_catalog(order: Order, procurable: Mapping[str, bool]) -> list[str]:
    """Problems with products the last catalog sync did not list or found not procurable.

    ``procurable`` maps product code to products.is_procurable; an empty list means the order
    can be pushed as far as the catalog knows.
    """
    problems = []
    for index, item in enumerate(order.items):
        field = f"itemList[{index}].productCode"
        if item.product_code not in procurable:
            problems.append(
                f"{field}: {item.product_code} is not in the synced catalog; run catalog_sync "
                "(with the code in HAIER_PRODUCT_CODES if that is set) or remove the item"
            )
        elif not procurable[item.product_code]:
            problems.append(
                f"{field}: {item.product_code} is not procurable per the last catalog sync; "
                "remove the item, or run catalog_sync if Haier has since released it"
            )
    return problems


def check_stock(order: Order, available: Mapping[str, int]) -> list[str]:
    """Shortfalls in the order's county, one line per product with both quantities.

    ``available`` maps product code to stock_qty in order.county_code; a product with no entry
    was never queried there, which is reported apart from a stock of zero.
    """
    county = order.county_code
    problems = []
    for code, ordered in order.quantities_by_product().items():
        if code not in available:
            problems.append(
                f"{code}: ordered {ordered}, no stock figure for county {county}; "
                f"add {county} to HAIER_COUNTY_CODES and run catalog_sync"
            )
        elif available[code] < ordered:
            problems.append(
                f"{code}: ordered {ordered}, available {available[code]} in county {county}"
            )
    return problems


class _Fields:
    """Reads typed fields of one JSON object, noting each problem instead of stopping.

    A reader returns None for a field it could not read; parse_order raises before any None
    reaches an Order.
    """

    def __init__(self, raw: Mapping[str, Any], where: str, problems: list[str]) -> None:
        self._raw = raw
        self._where = where
        self._problems = problems

    def _fail(self, key: str, message: str) -> None:
        self._problems.append(f"{self._where}{key}: {message}")

    def _present(self, key: str, required: bool) -> Any:
        value = self._raw.get(key)
        if value is None and required:
            self._fail(key, f"is missing; add {FIELDS[key].hint}")
        return value

    def text(self, key: str, *, required: bool = True) -> Any:
        """Text matching the field's pattern, or within its length cap and free of control
        characters (a pattern already rules out both)."""
        value = self._present(key, required)
        if value is None:
            return None
        spec = FIELDS[key]
        if not isinstance(value, str):
            self._fail(key, f"{_show(value)} is not text; write {spec.hint} in quotes")
        elif required and not value.strip():
            self._fail(key, f"is blank; write {spec.hint}")
        elif spec.pattern is not None and not spec.pattern.fullmatch(value):
            rule = f" ({spec.rule})" if spec.rule else ""
            self._fail(key, f"{_show(value)} is malformed; write {spec.hint}{rule}")
        elif spec.max_chars is not None and len(value) > spec.max_chars:
            self._fail(
                key,
                f"has {len(value)} characters, at most {spec.max_chars} are allowed; shorten it",
            )
        elif unprintable := _UNPRINTABLE.search(value):
            code = f"U+{ord(unprintable.group()):04X}"
            self._fail(key, f"contains the control character {code}; remove it")
        else:
            return value
        return None

    def configured(self, key: str, default: str | None) -> Any:
        """A field the file may leave out; configuration fills it in."""
        if self._raw.get(key) is not None:
            return self.text(key)
        if default is None or not default.strip():
            self._fail(
                key,
                f"is missing and no default is configured; add {FIELDS[key].hint} "
                f"or configure {_CONFIGURED_BY[key]}",
            )
            return None
        return default

    def whole(self, key: str) -> Any:
        """An integer from 1 to MAX_QUANTITY; 3.0 is accepted as 3 since JSON writers differ."""
        value = self._present(key, required=True)
        if value is None:
            return None
        number = _integer(value)
        if number is None:
            self._fail(key, f"{_show(value)} is not a whole number; write {FIELDS[key].hint}")
        elif number < 1:
            self._fail(
                key, f"{_show(value)} is not positive; write {FIELDS[key].hint} of at least 1"
            )
        elif number > MAX_QUANTITY:
            self._fail(key, f"{_show(value)} is more than {MAX_QUANTITY}; check the quantity")
        else:
            return number
        return None

    def money(self, key: str) -> Any:
        """A non-negative amount in yuan with at most 2 decimals (fen), as DECIMAL(18,2) holds."""
        value = self._present(key, required=True)
        if value is None:
            return None
        amount = self._amount(key, value)
        if amount is None:
            return None
        if amount < 0:
            self._fail(key, f"{_show(amount)} is negative; write an amount of 0 or more")
        elif amount.adjusted() >= _MONEY_DIGITS:
            self._fail(key, f"{_show(amount)} is too large; amounts are below 10^{_MONEY_DIGITS}")
        elif (amount * 100) != (amount * 100).to_integral_value():
            self._fail(
                key, f"{_show(amount)} has more than 2 decimal places; round it to the fen (0.01)"
            )
        else:
            return amount
        return None

    def _amount(self, key: str, value: Any) -> Decimal | None:
        if isinstance(value, float):
            self._fail(
                key,
                f"{value!r} is a binary float, which cannot hold money exactly; "
                "read order files with read_order_file (json parse_float=Decimal)",
            )
        elif isinstance(value, str) and _AMOUNT_TEXT.fullmatch(value.strip()):
            return Decimal(value.strip())
        elif isinstance(value, Decimal) and value.is_finite():
            return value
        elif isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        else:
            self._fail(key, f"{_show(value)} is not an amount; write {FIELDS[key].hint}")
        return None

    def epoch_ms(self, key: str, *, required: bool = True) -> Any:
        value = self._present(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(key, f"{_show(value)} is not an integer; write {FIELDS[key].hint}")
        elif not _EARLIEST_MS <= value < _LATEST_MS:
            self._fail(
                key,
                f"{value} is not a time between 2000 and 2100 in milliseconds; "
                f"write {FIELDS[key].hint} (not seconds or microseconds)",
            )
        else:
            return from_epoch_ms(value)
        return None

    def flag(self, key: str) -> Any:
        """An optional JSON boolean; "true" in quotes is refused rather than guessed at."""
        value = self._present(key, required=False)
        if value is None or isinstance(value, bool):
            return value
        self._fail(key, f"{_show(value)} is not a boolean; write {FIELDS[key].hint} without quotes")
        return None


def _integer(value: Any) -> int | None:
    """The whole number a JSON value holds, or None. A Decimal too large to be any quantity
    stands for MAX_QUANTITY + 1 rather than being converted digit by digit."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    if value.adjusted() >= _MAX_DIGITS:
        return MAX_QUANTITY + 1 if value > 0 else 0
    return int(value) if value == value.to_integral_value() else None


def _parse_items(raw_items: Any, problems: list[str]) -> tuple[OrderItem | None, ...]:
    """Items in file order; an unreadable item is None so that totals are not checked."""
    if raw_items is None:
        problems.append(f"itemList: is missing; add {FIELDS['itemList'].hint}")
        return ()
    if not isinstance(raw_items, list):
        problems.append(f"itemList: {_show(raw_items)} is not a list; write a JSON list of items")
        return ()
    if not raw_items:
        problems.append("itemList: is empty; add at least one item")
    if len(raw_items) > MAX_ITEMS:
        problems.append(
            f"itemList: has {len(raw_items)} items, at most {MAX_ITEMS} are allowed; "
            "split the order into several soIds"
        )
        return ()
    return tuple(_parse_item(raw, f"itemList[{i}].", problems) for i, raw in enumerate(raw_items))


def _parse_item(raw: Any, where: str, problems: list[str]) -> OrderItem | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where[:-1]}: {_show(raw)} is not an item; write a JSON object")
        return None
    before = len(problems)
    _report_unknown(raw, ITEM_FIELDS, where, problems)
    fields = _Fields(raw, where, problems)
    values = {
        "product_code": fields.text("productCode"),
        "item_qty": fields.whole("itemQty"),
        "retail_price": fields.money("retailPrice"),
        "discount_amount": fields.money("discountAmount"),
        "actual_price": fields.money("actualPrice"),
        "is_gift": fields.flag("isGift"),
    }
    return None if len(problems) > before else OrderItem(**values)


def _check_totals(values: Mapping[str, Any], problems: list[str]) -> None:
    """Exact Decimal sums: YLH refuses an order whose totals disagree (AMOUNT_MISMATCH)."""
    items = values["items"]
    if not items or None in items:
        return
    quantity = sum(item.item_qty for item in items)
    if values["total_qty"] is not None and values["total_qty"] != quantity:
        problems.append(
            f"totalQty: {values['total_qty']} differs from the sum of itemQty ({quantity}); "
            "correct totalQty or the item quantities"
        )
    amount = sum((item.actual_price * item.item_qty for item in items), Decimal(0))
    if values["total_amt"] is not None and values["total_amt"] != amount:
        problems.append(
            f"totalAmt: {values['total_amt']} differs from the sum of actualPrice × itemQty "
            f"({amount}); correct totalAmt or the item prices"
        )


def _check_delivery_install(given: Any, values: Mapping[str, Any], problems: list[str]) -> None:
    """deliveryInstall is derived from the two times; a file that says otherwise is ambiguous."""
    together = is_delivery_install(values["distribution_time"], values["install_time"])
    derived = "true" if together else "false"
    if given is None or given == derived or given is together:
        return
    problems.append(
        f"deliveryInstall: {_show(given)} contradicts distributionTime and installTime "
        f"(which give {derived!r}); leave deliveryInstall out, it is derived from the times"
    )


def _report_unknown(
    raw: Mapping[str, Any], known: frozenset[str], where: str, problems: list[str]
) -> None:
    """A misspelt optional field (instalTime) would otherwise vanish without a word."""
    for key in raw:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known fields: {', '.join(sorted(known))}"
        name = key if len(key) <= _SHOWN_CHARS else _show(key)
        problems.append(f"{where}{name}: is not a field of the order format; {hint}")


def record_id(raw: Mapping[str, Any]) -> str | None:
    """The file's soId if it is a well-formed one, else None: a malformed soId must never
    key a row or name anything."""
    so_id = raw.get("soId")
    return so_id if isinstance(so_id, str) and ORDER_ID.fullmatch(so_id) else None


def _show(value: Any) -> str:
    """A value as the shop wrote it in JSON, for messages; long values are cut short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        if len(value) > _SHOWN_CHARS:
            return f"{value[:_SHOWN_CHARS]!r}… ({len(value)} characters)"
        return repr(value)
    text = str(value) if isinstance(value, int | Decimal) else repr(value)
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]}… ({len(text)} characters)"
    return text
