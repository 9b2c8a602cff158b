"""Typed records parsed from Haier's answers, and the parsers that build them.

A record Haier got wrong (missing code, stock "N/A", price "abc", a list sent as text) is never
coerced into a plausible value and never stops the batch: it becomes a :class:`RejectedRecord`
that names the field, the value and the record, and carries the record's JSON text so the
caller can store it for follow-up. Field names come from :mod:`haier_pipeline.haier.fields`.

Conventions shared by every kind: a field that is missing, ``null`` or blank text is absent
(``None`` when optional, a rejection when required); text must arrive as JSON text; money is a
``Decimal`` from a JSON number or numeric text, finite; flags are "1"/"0" (also 1/0,
true/false, which cannot be misread).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from haier_pipeline.haier import fields, jsonio

T = TypeVar("T")

_ABSENT = object()
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DIGITS = re.compile(r"\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# statusTime is milliseconds; a value outside these years is seconds or garbage, not a date.
_EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST_EVENT = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Product:
    product_code: str
    product_model: str | None
    product_group: str | None
    brand: str | None
    image_url: str | None
    leaflet_urls: tuple[str, ...]
    is_procurable: bool
    not_procurable_reason: str | None


@dataclass(frozen=True)
class Price:
    product_code: str
    supply_price: Decimal | None
    invoice_price: Decimal | None
    direct_discount_rate: Decimal | None
    rebate_money: Decimal | None
    rebate_type: str | None
    is_procurable: bool
    price_note: str | None


@dataclass(frozen=True)
class StockLevel:
    """Stock of one product for one county in one warehouse."""

    product_code: str
    county_code: str
    stock_qty: int
    warehouse_code: str | None
    warehouse_grade: str | None
    cut_time: str | None
    expected_delivery_date: date | None
    delivery_hours: int | None
    is_transfer: bool | None


@dataclass(frozen=True)
class LogisticsEvent:
    order_code: str
    delivery_record_code: str | None
    logistics_company: str | None
    logistics_no: str | None
    sn_code: str | None
    status: str
    status_time: datetime
    description: str | None
    source: str


@dataclass(frozen=True)
class LogisticsNumber:
    order_code: str
    delivery_record_code: str | None
    logistics_company: str | None
    logistics_no: str
    sn_code: str | None


@dataclass(frozen=True)
class Balance:
    sale_group_code: str
    sale_group_name: str | None
    payer_account_code: str | None
    payer_account_name: str | None
    balance: Decimal


@dataclass(frozen=True)
class RejectedRecord:
    """A record left out of a batch; ``raw`` is its JSON text as received."""

    kind: str
    key: str | None
    reason: str
    raw: str


@dataclass(frozen=True)
class ParseResult(Generic[T]):
    records: list[T]
    rejected: list[RejectedRecord]


class _Invalid(ValueError):
    """One field value broke its rule; the message is the rule, worded after the value."""


class _RecordInvalid(ValueError):
    """A record broke one or more field rules; the message lists them all."""


def _json_type(value: Any) -> str:
    """The JSON kind of ``value`` with its article, for messages ("is a number")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"is {_json_type(value)}, expected text")
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid("is a boolean, expected a decimal number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise _Invalid("is not a decimal number")
        value = Decimal(value.strip())
    if not isinstance(value, Decimal):
        raise _Invalid(f"is {_json_type(value)}, expected a decimal number")
    if not value.is_finite():
        raise _Invalid("is not a finite number")
    return value


def _amount(value: Any) -> Decimal:
    amount = _decimal(value)
    if amount < 0:
        raise _Invalid("is negative, expected an amount of zero or more")
    return amount


def _fraction(value: Any) -> Decimal:
    rate = _decimal(value)
    if not 0 <= rate <= 1:
        raise _Invalid("is not a fraction between 0 and 1 (0.05 means 5%)")
    return rate


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("1", "0") or (isinstance(value, int) and value in (1, 0)):
        return str(value) == "1"
    raise _Invalid('is not a flag, expected "1" or "0"')


def _whole(value: Any) -> int:
    """A non-negative whole number from digits text, a JSON integer or an integral decimal."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, Decimal) and value.is_finite() and value >= 0 and value % 1 == 0:
        return int(value)
    raise _Invalid("is not a whole number of zero or more")


def _iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise _Invalid("is not a date written yyyy-MM-dd")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise _Invalid("is not a real calendar date") from exc


def _epoch_ms(value: Any) -> datetime:
    try:
        millis = _whole(value)
    except _Invalid as exc:
        raise _Invalid("is not milliseconds since the epoch") from exc
    moment = _EPOCH + timedelta(milliseconds=millis)
    if not _EARLIEST_EVENT <= moment < _LATEST_EVENT:
        raise _Invalid(f"is {moment:%Y-%m-%d}, outside 2000-2099 (seconds sent as milliseconds?)")
    return moment


def _text_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"is {_json_type(value)}, expected a list of text")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _Invalid(f"has item {index} that is not non-blank text")
    return tuple(value)


def _object_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(f"is {_json_type(value)}, expected a list of objects")
    return value


def _show(value: Any) -> str:
    text = jsonio.dumps(value, allow_nan=True)
    return text if len(text) <= 80 else text[:77] + "..."


class _Fields:
    """Reads one raw record through a field table, collecting every broken rule."""

    def __init__(self, raw: Mapping[str, Any], table: Mapping[str, str]) -> None:
        self._raw = raw
        self._wire = {ours: wire for wire, ours in table.items()}
        self.problems: list[str] = []

    def _lookup(self, wire: str) -> Any:
        value: Any = self._raw
        walked: list[str] = []
        for part in wire.split("."):
            if value is None:
                return _ABSENT
            if not isinstance(value, Mapping):
                problem = f"field {'.'.join(walked)} is {_json_type(value)}, not an object"
                if problem not in self.problems:
                    self.problems.append(problem)
                return _ABSENT
            walked.append(part)
            value = value.get(part, _ABSENT)
            if value is _ABSENT:
                return _ABSENT
        return value

    def _read(self, ours: str, convert: Callable[[Any], T], *, required: bool) -> T | None:
        wire = self._wire[ours]
        value = self._lookup(wire)
        if value is _ABSENT or value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problems.append(f"field {wire} ({ours}) is missing")
            return None
        try:
            return convert(value)
        except _Invalid as exc:
            self.problems.append(f"field {wire} ({ours}) = {_show(value)} {exc}")
            return None

    def optional(self, ours: str, convert: Callable[[Any], T]) -> T | None:
        return self._read(ours, convert, required=False)

    def required(self, ours: str, convert: Callable[[Any], T]) -> T:
        # Only reached with None when a problem was recorded; check() then raises.
        return self._read(ours, convert, required=True)  # type: ignore[return-value]

    def check(self) -> None:
        if self.problems:
            raise _RecordInvalid("; ".join(self.problems))


def _parse(
    kind: str,
    items: Sequence[Any],
    build: Callable[[Mapping[str, Any]], list[T]],
    key_of: Callable[[Any], str | None],
) -> ParseResult[T]:
    """Build records from ``items``, turning each bad one into a RejectedRecord."""
    records: list[T] = []
    rejected: list[RejectedRecord] = []
    for item in items:
        key = key_of(item)
        try:
            if not isinstance(item, Mapping):
                raise _RecordInvalid(f"the record is {_json_type(item)}, expected an object")
            records.extend(build(item))
        except _RecordInvalid as exc:
            reason = f"{kind} record {key or '(without key)'} skipped: {exc}"
            rejected.append(RejectedRecord(kind, key, reason, jsonio.dumps(item, allow_nan=True)))
    return ParseResult(records, rejected)


def _key(table: Mapping[str, str], ours: str) -> Callable[[Any], str | None]:
    wire = next(w for w, o in table.items() if o == ours)

    def key_of(item: Any) -> str | None:
        value = item.get(wire) if isinstance(item, Mapping) else None
        return value if isinstance(value, str) and value.strip() else None

    return key_of


def parse_products(items: Sequence[Any]) -> ParseResult[Product]:
    def build(raw: Mapping[str, Any]) -> list[Product]:
        f = _Fields(raw, fields.PRODUCT)
        product = Product(
            product_code=f.required("product_code", _text),
            product_model=f.optional("product_model", _text),
            product_group=f.optional("product_group", _text),
            brand=f.optional("brand", _text),
            image_url=f.optional("image_url", _text),
            leaflet_urls=f.optional("leaflet_urls", _text_list) or (),
            is_procurable=f.required("is_procurable", _flag),
            not_procurable_reason=f.optional("not_procurable_reason", _text),
        )
        f.check()
        return [product]

    return _parse("product", items, build, _key(fields.PRODUCT, "product_code"))


def parse_prices(items: Sequence[Any]) -> ParseResult[Price]:
    def build(raw: Mapping[str, Any]) -> list[Price]:
        f = _Fields(raw, fields.PRICE)
        price = Price(
            product_code=f.required("product_code", _text),
            supply_price=f.optional("supply_price", _amount),
            invoice_price=f.optional("invoice_price", _amount),
            direct_discount_rate=f.optional("direct_discount_rate", _fraction),
            rebate_money=f.optional("rebate_money", _amount),
            rebate_type=f.optional("rebate_type", _text),
            is_procurable=f.required("is_procurable", _flag),
            price_note=f.optional("price_note", _text),
        )
        f.check()
        return [price]

    return _parse("price", items, build, _key(fields.PRICE, "product_code"))


def parse_stock(
    items: Sequence[Any], product_code: str, county_code: str
) -> ParseResult[StockLevel]:
    """One StockLevel per warehouse entry; the product and county come from the request."""

    def build(raw: Mapping[str, Any]) -> list[StockLevel]:
        f = _Fields(raw, fields.STOCK)
        level = StockLevel(
            product_code=product_code,
            county_code=county_code,
            stock_qty=f.required("stock_qty", _whole),
            warehouse_code=f.optional("warehouse_code", _text),
            warehouse_grade=f.optional("warehouse_grade", _text),
            cut_time=f.optional("cut_time", _text),
            expected_delivery_date=f.optional("expected_delivery_date", _iso_date),
            delivery_hours=f.optional("delivery_hours", _whole),
            is_transfer=f.optional("is_transfer", _flag),
        )
        f.check()
        return [level]

    warehouse = _key(fields.STOCK, "warehouse_code")

    def key_of(item: Any) -> str:
        code = warehouse(item)
        return f"{product_code}/{county_code}" + (f"/{code}" if code else "")

    return _parse("stock", items, build, key_of)


def parse_logistics_events(data: Mapping[str, Any], order_code: str) -> ParseResult[LogisticsEvent]:
    """Events from the three lists of the logistics answer; a list that is not a list is
    rejected on its own, and the other two are still read."""
    records: list[LogisticsEvent] = []
    rejected: list[RejectedRecord] = []
    for list_name, source in fields.LOGISTICS_EVENT_LISTS.items():
        items = data.get(list_name)
        if items is None:
            continue
        if not isinstance(items, list):
            reason = (
                f"logistics_event list {list_name} of order {order_code} skipped: "
                f"it is {_json_type(items)}, expected a list of objects"
            )
            raw = jsonio.dumps(items, allow_nan=True)
            rejected.append(RejectedRecord("logistics_event", order_code, reason, raw))
            continue
        result = _parse_event_list(items, order_code, source)
        records.extend(result.records)
        rejected.extend(result.rejected)
    return ParseResult(records, rejected)


def _parse_event_list(
    items: Sequence[Any], order_code: str, source: str
) -> ParseResult[LogisticsEvent]:
    def build(raw: Mapping[str, Any]) -> list[LogisticsEvent]:
        f = _Fields(raw, fields.LOGISTICS_EVENT)
        event = LogisticsEvent(
            order_code=order_code,
            delivery_record_code=f.optional("delivery_record_code", _text),
            logistics_company=f.optional("logistics_company", _text),
            logistics_no=f.optional("logistics_no", _text),
            sn_code=f.optional("sn_code", _text),
            status=f.required("status", _text),
            status_time=f.required("status_time", _epoch_ms),
            description=f.optional("description", _text),
            source=source,
        )
        f.check()
        return [event]

    return _parse("logistics_event", items, build, lambda _item: order_code)


def parse_logistics_numbers(items: Sequence[Any]) -> ParseResult[LogisticsNumber]:
    """One LogisticsNumber per parcel; a bad parcel is rejected alone, a bad order whole."""
    rejected: list[RejectedRecord] = []
    order_key = _key(fields.LOGISTICS_NUMBER_ORDER, "order_code")

    def build(raw: Mapping[str, Any]) -> list[LogisticsNumber]:
        f = _Fields(raw, fields.LOGISTICS_NUMBER_ORDER)
        order_code = f.required("order_code", _text)
        delivery_record_code = f.optional("delivery_record_code", _text)
        parcels = f.optional("parcels", _object_list) or []
        f.check()
        result = _parse(
            "logistics_number",
            parcels,
            lambda parcel: [_parcel(parcel, order_code, delivery_record_code)],
            lambda _parcel: order_code,
        )
        rejected.extend(result.rejected)
        return result.records

    result = _parse("logistics_number", items, build, order_key)
    return ParseResult(result.records, result.rejected + rejected)


def _parcel(
    raw: Mapping[str, Any], order_code: str, delivery_record_code: str | None
) -> LogisticsNumber:
    f = _Fields(raw, fields.LOGISTICS_NUMBER_PARCEL)
    number = LogisticsNumber(
        order_code=order_code,
        delivery_record_code=delivery_record_code,
        logistics_company=f.optional("logistics_company", _text),
        logistics_no=f.required("logistics_no", _text),
        sn_code=f.optional("sn_code", _text),
    )
    f.check()
    return number


def parse_balances(items: Sequence[Any]) -> ParseResult[Balance]:
    def build(raw: Mapping[str, Any]) -> list[Balance]:
        f = _Fields(raw, fields.BALANCE)
        balance = Balance(
            sale_group_code=f.required("sale_group_code", _text),
            sale_group_name=f.optional("sale_group_name", _text),
            payer_account_code=f.optional("payer_account_code", _text),
            payer_account_name=f.optional("payer_account_name", _text),
            balance=f.required("balance", _decimal),
        )
        f.check()
        return [balance]

    return _parse("balance", items, build, _key(fields.BALANCE, "sale_group_code"))
