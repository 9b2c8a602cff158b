"""Delivery and installation photos (YLH 3.4), fetched into ``delivery_photos``. No Dagster.

The photos exist once the parcel has reached the customer, so the tracking job asks for them
when an order's logistics status reaches DELIVERED (or later) and none are stored yet; an
operator can fetch one order's photos at any time with the fetch_delivery_photos job.
Photos are keyed by (retail_order_no, image_url): fetching again stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class PhotoReport:
    orders: int = 0
    new_photos: int = 0
    errors: ErrorSample = field(default_factory=ErrorSample)

    def message(self) -> str:
        text = f"{self.new_photos} new photo(s) of {self.orders} delivered order(s)"
        return text + (f"; not fetched: {self.errors}" if self.errors else "")


def fetch_photos(
    ylh: YlhClient, warehouse: Warehouse, retail_order_no: str, account: str = DEFAULT_ACCOUNT
) -> int:
    """One order's photos, stored; returns how many were new. Haier's errors propagate."""
    urls = ylh.delivery_images(retail_order_no)
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
        return insert_new(con, DELIVERY_PHOTOS, DELIVERY_PHOTOS.to_arrow(rows))


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
            report.new_photos += fetch_photos(ylh, warehouse, number, account)
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
