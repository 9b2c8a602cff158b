"""Client for the JSH open platform: catalog, prices, stock, logistics, balance (2.0-2.5).

Each method is one Haier call. Batching (20 codes per call) and the thread pool live in the
caller; the client is thread-safe and sized for ``max_workers`` concurrent callers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from haier_pipeline.batching import batched
from haier_pipeline.haier import endpoints, records, validation
from haier_pipeline.haier.errors import HaierProtocolError
from haier_pipeline.haier.masking import get_logger
from haier_pipeline.haier.payloads import as_list, reported
from haier_pipeline.haier.records import (
    Balance,
    LogisticsEvent,
    ParseResult,
    Price,
    Product,
    StockLevel,
)
from haier_pipeline.haier.retry import RetryPolicy
from haier_pipeline.haier.settings import JshSettings
from haier_pipeline.haier.tokens import Token
from haier_pipeline.haier.transport import Transport, TransportClient

log = get_logger(__name__)

SEARCH_TYPE = "PTJSH"
PRICE_TYPE = "PT"
STOCK_SOURCE = "JSH-B"
CREDENTIALS = "HAIER_CLIENT_ID and HAIER_CLIENT_SECRET"
PRODUCT_CHUNK = 5_000
URLS = "the account's base_url (or HAIER_BASE_URL)"
URLS_AND_TOKEN_URL = "the account's base_url and token_url (or HAIER_BASE_URL and HAIER_TOKEN_URL)"


class JshClient(TransportClient):
    """Thread-safe; share one instance between the worker threads of a run."""

    def __init__(
        self, settings: JshSettings, *, max_workers: int = 32, retry: RetryPolicy | None = None
    ) -> None:
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        self._token_url = settings.effective_token_url
        super().__init__(
            settings,
            max_workers=max_workers,
            retry=retry,
            credentials_hint=CREDENTIALS,
            url_hint=URLS_AND_TOKEN_URL if settings.token_url else URLS,
        )

    def procurable_products(self, codes: Sequence[str] | None = None) -> ParseResult[Product]:
        """Products by code, or (``None``/empty) every product this customer may procure.

        For the whole catalog prefer :meth:`iter_procurable_products`, which never holds it all.
        """
        payload = self._call(endpoints.JSH_PRODUCTS, self._products_body(codes))
        items = as_list(endpoints.JSH_PRODUCTS, payload)
        return reported(endpoints.JSH_PRODUCTS, records.parse_products(items))

    def iter_procurable_products(
        self, chunk_size: int = PRODUCT_CHUNK
    ) -> Iterator[ParseResult[Product]]:
        """Every product this customer may procure, parsed ``chunk_size`` records at a time.

        That answer lists the whole catalog (38 MB of JSON at 100,000 products, several times
        that as Python objects); read in chunks, only one chunk of raw and parsed records is
        alive at a time. The call and its retries are done before this returns, so its errors
        are raised here; the chunks are parsed as the caller iterates.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size is {chunk_size}; use 1 or more")
        url = self._base + endpoints.JSH_PRODUCTS
        items = self._transport.call_items(url, self._products_body(None))
        return (
            reported(endpoints.JSH_PRODUCTS, records.parse_products(chunk))
            for chunk in batched(items, chunk_size)
        )

    def _products_body(self, codes: Sequence[str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customerCode": self._settings.customer_code,
            "sendToCode": self._settings.effective_send_to_code,
            "supplierCode": self._settings.supplier_code,
            "searchType": SEARCH_TYPE,
            "passWord": self._settings.password,
        }
        if codes:
            body["productCodes"] = validation.product_codes(codes)
        return body

    def prices(self, codes: Sequence[str]) -> ParseResult[Price]:
        """Prices of 1 to 20 products."""
        body = {
            "customerCode": self._settings.customer_code,
            "sendToCode": self._settings.effective_send_to_code,
            "productCodes": validation.product_codes(codes),
            "priceType": PRICE_TYPE,
            "passWord": self._settings.password,
        }
        payload = self._call(endpoints.JSH_PRICES, body)
        items = as_list(endpoints.JSH_PRICES, payload)
        return reported(endpoints.JSH_PRICES, records.parse_prices(items))

    def stock(self, product_code: str, county_code: str) -> ParseResult[StockLevel]:
        """Available stock of one product for one county, one StockLevel per warehouse."""
        body = {
            "salesCode": self._settings.customer_code,
            "senderCode": self._settings.effective_send_to_code,
            "productCode": validation.text("product_code", product_code),
            "countyCode": validation.county_code(county_code),
            "source": STOCK_SOURCE,
            "sellerPassword": self._settings.effective_seller_password,
        }
        payload = self._call(endpoints.JSH_STOCK, body)
        items = as_list(endpoints.JSH_STOCK, payload)
        result = records.parse_stock(items, product_code, county_code)
        return reported(endpoints.JSH_STOCK, result)

    def logistics(
        self, order_code: str, seller_code: str, delivery_record_code: str | None = None
    ) -> ParseResult[LogisticsEvent]:
        """Logistics events of one order, from all three of Haier's lists."""
        body = {
            "orderCode": validation.text("order_code", order_code),
            "sellerCode": validation.text("seller_code", seller_code),
            "sellerPassword": self._settings.effective_seller_password,
        }
        if delivery_record_code is not None:
            body["deliveryRecordCode"] = validation.text(
                "delivery_record_code", delivery_record_code
            )
        payload = self._call(endpoints.JSH_LOGISTICS, body)
        if payload is None:
            return ParseResult([], [])
        if not isinstance(payload, Mapping):
            raise HaierProtocolError(endpoints.JSH_LOGISTICS, "data is not an object of lists")
        result = records.parse_logistics_events(payload, order_code)
        return reported(endpoints.JSH_LOGISTICS, result)

    def balance(self) -> ParseResult[Balance]:
        """Payer account balances of this customer, one per sales group."""
        body = {
            "customerCode": self._settings.customer_code,
            "customerPassword": self._settings.effective_customer_password,
        }
        payload = self._call(endpoints.JSH_BALANCE, body)
        items = as_list(endpoints.JSH_BALANCE, payload)
        return reported(endpoints.JSH_BALANCE, records.parse_balances(items))

    def _call(self, path: str, body: Any) -> Any:
        return self._transport.call(self._base + path, body)

    def _fetch_token(self, transport: Transport) -> Token:
        """Client-credentials token; tries /oauth2/token when the configured URL is a 404.

        The URL that worked is kept, so later refreshes do not pay for the 404 again.
        """
        body = {
            "client_id": self._settings.client_id,
            "client_secret": self._settings.client_secret,
            "grant_type": "client_credentials",
        }
        url = self._token_url
        reply = transport.exchange(url, json_body=body)
        fallback = self._base + endpoints.JSH_TOKEN_FALLBACK
        if reply.status == 404 and url != fallback:
            log.info("token URL %s answered 404; trying %s", url, fallback)
            url = fallback
            reply = transport.exchange(url, json_body=body)
        token = transport.token_from(url, reply)
        self._token_url = url
        return token
