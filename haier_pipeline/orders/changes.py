"""Changes a person asks for after a push: cancel an order, move its delivery (3.2, 3.3).

Both are checked here before anything is sent, so a mistake in the launch form comes back
as one sentence naming the field, not as a refusal from YLH. A cancellation is final only
when Haier's cancel callback says so (``hmm.scm_heorder.cancel``); until then the order
keeps its status, because YLH may still refuse (an order already out of the warehouse).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier.ylh import RESCHEDULE_TIME_OF_DAY, SHANGHAI, YlhClient
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.warehouse import Warehouse, utcnow

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class OrderChangeError(ValueError):
    """The requested change cannot be sent as asked; the message says what to change."""


def cancel_order(
    ylh: YlhClient,
    warehouse: Warehouse,
    so_id: str,
    reason: str,
    source_system: str,
    account: str = DEFAULT_ACCOUNT,
) -> str:
    """Ask YLH to cancel a pushed order of ``account``; returns its retailOrderNo (or the soId
    if unknown)."""
    so_id, reason = so_id.strip(), reason.strip()
    if not so_id or not reason:
        raise OrderChangeError("so_id and reason are both required to cancel an order")
    with warehouse.connect(publish=False) as con:
        stored = db.stored_order(con, so_id, account)
    if stored is None:
        raise OrderChangeError(
            f"so_id {so_id!r} is not in the orders table of account {account}; only orders "
            "this pipeline pushed can be cancelled here. Check the soId (the shop's sub-order "
            "number) and the account."
        )
    if stored.status == db.CANCELLED:
        raise OrderChangeError(f"so_id {so_id!r} is already cancelled; nothing was sent")
    if not (stored.exists_at_ylh or stored.may_have_been_pushed):
        raise OrderChangeError(
            f"so_id {so_id!r} is {stored.status} and was never pushed to YLH, so YLH has "
            "nothing to cancel; if its file is still in the order inbox, remove it there."
        )
    ylh.cancel_order(so_id, utcnow(), reason, source_system)
    return stored.retail_order_no or so_id


def parse_reschedule_time(field: str, text: str) -> datetime | None:
    """A new delivery or installation day from the launch form; empty text means unchanged.

    ``2025-05-03`` means 23:59:59 that day in Beijing, which is what YLH requires; a full
    timestamp is accepted only if it is that exact time, so nobody's 09:00 is silently moved.
    """
    text = text.strip()
    if not text:
        return None
    example = "e.g. 2025-05-03 or 2025-05-03T23:59:59+08:00"
    if _DATE_ONLY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise OrderChangeError(f"{field} {text!r} is not a calendar date; {example}") from None
        return datetime.combine(day, RESCHEDULE_TIME_OF_DAY, tzinfo=SHANGHAI)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OrderChangeError(
            f"{field} {text!r} is not a date or a timestamp; {example}"
        ) from None
    if moment.utcoffset() is None:
        raise OrderChangeError(
            f"{field} {text!r} has no UTC offset, so the day is ambiguous; add +08:00 or "
            f"write just the date ({example})"
        )
    local = moment.astimezone(SHANGHAI)
    if local.time() != RESCHEDULE_TIME_OF_DAY:
        raise OrderChangeError(
            f"{field} {text!r} is {local:%Y-%m-%d %H:%M:%S} in Asia/Shanghai; YLH accepts only "
            f"23:59:59 on the chosen day: write {local:%Y-%m-%d} or {local:%Y-%m-%d}T23:59:59+08:00"
        )
    return local


def reschedule_order(
    ylh: YlhClient, retail_order_no: str, distribution_date: str, install_date: str
) -> tuple[datetime | None, datetime | None]:
    """Move delivery and/or installation; returns the two times sent (None: unchanged)."""
    number = retail_order_no.strip()
    if not number:
        raise OrderChangeError("retail_order_no is required, e.g. SO.20250430.000001")
    distribution = parse_reschedule_time("distribution_date", distribution_date)
    install = parse_reschedule_time("install_date", install_date)
    if distribution is None and install is None:
        raise OrderChangeError("give distribution_date, install_date or both; nothing was sent")
    ylh.reschedule(number, distribution, install)
    return distribution, install
