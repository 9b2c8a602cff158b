"""Delivery and installation photos (YLH 3.4), fetched into ``delivery_photos``. No Dagster.

The photos exist once the parcel has reached the customer, so the tracking job asks for them
when an order's logistics status reaches DELIVERED (or later) and none are stored yet; an
operator can fetch one order's photos at any time with the fetch_delivery_photos job.
Photos are keyed by (retail_order_no, image_url): fetching again stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier.errors import HaierError
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.runlog import Log
from haier_pipeline.storage.orders import DELIVERED_STATUSES
from haier_pipeline.storage.outcomes import ErrorSample
from haier_pipeline.storage.schema import DELIVERY_PHOTOS
from haier_pipeline.storage.warehouse import Warehouse, insert_new, utcnow

PHOTO_TYPES = ("delivery", "installation", "signature")
"""Sandbox convention: 3.4 answers bare URLs, one per step reached, in the order the steps
happen. A URL past these three is stored with type NULL rather than a guess."""
MAX_URL_CHARS = 2048
"""Longer than any image link a CDN hands out, and the length browsers and proxies keep."""
MAX_PHOTOS = 20
"""Photos kept per order: an order has a few steps, each with a photo or two. A gateway
that answers thousands (or the same link again and again) does not fill the table."""


@dataclass(frozen=True)
class PhotoFetch:
    """One order's fetch: photos newly stored, and URLs refused (not http(s), too long, past
    ``MAX_PHOTOS``)."""

    new: int
    rejected: int


@dataclass
class PhotoReport:
    orders: int = 0
    new_photos: int = 0
    rejected_urls: int = 0
    errors: ErrorSample = field(default_factory=ErrorSample)

    def message(self) -> str:
        text = f"{self.new_photos} new photo(s) of {self.orders} delivered order(s)"
        if self.rejected_urls:
            text += f"; {self.rejected_urls} photo URL(s) refused (not http(s) or too long)"
        return text + (f"; not fetched: {self.errors}" if self.errors else "")


def acceptable_urls(urls: list[str]) -> tuple[list[str], int]:
    """The URLs worth storing, trimmed, and how many were refused.

    Analysts click these links: only http(s) with a host and at most MAX_URL_CHARS, never
    ``javascript:``, ``data:`` or ``file:``; the first MAX_PHOTOS of those are kept."""
    kept = [url.strip() for url in urls if _sane(url.strip())][:MAX_PHOTOS]
    return kept, len(urls) - len(kept)


def _sane(url: str) -> bool:
    if len(url) > MAX_URL_CHARS:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc.rpartition("@")[2])


def fetch_photos(
    ylh: YlhClient, warehouse: Warehouse, retail_order_no: str, account: str = DEFAULT_ACCOUNT
) -> PhotoFetch:
    """One order's photos, stored; returns how many were new and how many refused. Haier's
    errors propagate."""
    urls, rejected = acceptable_urls(ylh.delivery_images(retail_order_no))
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "retail_order_no": retail_order_no,
            "image_url": url,
            "photo_type": PHOTO_TYPES[index] if index < len(PHOTO_TYPES) else None,
            "position": index + 1,
            "fetched_at": now,
            "account": account,
        }
        for index, url in enumerate(urls)
    ]
    with warehouse.transaction() as con:
        return PhotoFetch(
            insert_new(con, DELIVERY_PHOTOS, DELIVERY_PHOTOS.to_arrow(rows)), rejected
        )


def collect_photos(
    ylh: YlhClient, warehouse: Warehouse, log: Log, account: str = DEFAULT_ACCOUNT
) -> PhotoReport:
    """Photos of every delivered order of the account that has none yet (with the account's
    YLH client); one order's failure is logged and retried on the next run, never fatal to
    the others."""
    report = PhotoReport()
    for number in _delivered_without_photos(warehouse, account):
        report.orders += 1
        try:
            fetched = fetch_photos(ylh, warehouse, number, account)
            report.new_photos += fetched.new
            report.rejected_urls += fetched.rejected
        except HaierError as error:
            log.warning(f"{number}: photos not fetched this run: {error}")
            report.errors.note(f"{number}: {error}")
    return report


def _delivered_without_photos(warehouse: Warehouse, account: str) -> list[str]:
    # The working file, not the published one: it holds every table of the current schema.
    with warehouse.connect(publish=False) as con:
        rows = con.execute(
            "SELECT retail_order_no FROM orders WHERE retail_order_no IS NOT NULL "
            "AND account = ? AND logistics_status IN (SELECT unnest(?)) AND retail_order_no "
            f"NOT IN (SELECT retail_order_no FROM {DELIVERY_PHOTOS.name} WHERE account = ?) "
            "ORDER BY retail_order_no",
            [account, list(DELIVERED_STATUSES), account],
        ).fetchall()
    return [number for (number,) in rows]
