"""What each alert says: a failed run, orders that ended badly, a stale table, a low balance.

Pure functions from facts to :class:`~haier_pipeline.alerts.message.Alert`, so that the
sensors only gather facts and keep cursors. A burst is one message: the orders of one tick are
listed a few at a time with a count of the rest, as a chat robot takes 20 messages a minute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from haier_pipeline.alerts.message import Alert, run_url
from haier_pipeline.haier.masking import mask
from haier_pipeline.storage.orders import FAILED, OUT_OF_STOCK, REJECTED

ALERTED_STATUSES = (REJECTED, FAILED, OUT_OF_STOCK)
"""Order statuses someone has to act on (contract: orders.status)."""
LISTED = 10
"""Orders named in one message; the rest are counted (the orders table has them all)."""
REASON_CHARS = 120
ALL_ACCOUNTS = "all"
"""The account of a run that served every account (no partition)."""


def first_line(text: str, limit: int = 300) -> str:
    """The first non-blank line, masked and cut: the one-line cause of a failure."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = mask(line)
    return line if len(line) <= limit else line[:limit] + "…"


def run_failed(job: str, account: str, run_id: str, cause: str, ui_url: str = "") -> Alert:
    """One alert per failed run: the job, the account and the one-line cause."""
    return Alert(
        kind="run_failed",
        key=f"run_failed:{run_id}",
        job=job,
        account=account,
        text=first_line(cause) or "the run failed; its event log has the cause",
        run_id=run_id,
        run_url=run_url(ui_url, run_id),
    )


@dataclass(frozen=True)
class OrderEnd:
    """An order in a status someone has to act on, as the orders table has it."""

    account: str
    so_id: str
    status: str
    reason: str
    updated_at: datetime

    @property
    def key(self) -> str:
        return f"{self.account}/{self.so_id}"

    @property
    def job(self) -> str:
        """Haier sets out_of_stock by callback; the pusher sets rejected and failed."""
        return "apply_callbacks" if self.status == OUT_OF_STOCK else "push_orders"


def unalerted(ends: Iterable[OrderEnd], alerted: Mapping[str, str]) -> list[OrderEnd]:
    """The orders not yet alerted in their current status (one alert per order and status)."""
    return [end for end in ends if alerted.get(end.key) != end.status]


def by_account_and_job(ends: Iterable[OrderEnd]) -> dict[tuple[str, str], list[OrderEnd]]:
    groups: dict[tuple[str, str], list[OrderEnd]] = {}
    for end in ends:
        groups.setdefault((end.account, end.job), []).append(end)
    return groups


def orders(
    account: str, job: str, ends: Sequence[OrderEnd], run_id: str | None, ui_url: str = ""
) -> Alert:
    """One alert for the orders of one account and job that ended badly since the last tick."""
    lines = [f"{len(ends)} order(s) need attention:"]
    for end in ends[:LISTED]:
        reason = first_line(end.reason, REASON_CHARS)
        lines.append(f"- {end.so_id}: {end.status}" + (f" ({reason})" if reason else ""))
    if len(ends) > LISTED:
        lines.append(f"and {len(ends) - LISTED} more; the orders table has them all")
    digest = hashlib.sha256(
        "\n".join(sorted(f"{e.key}={e.status}" for e in ends)).encode()
    ).hexdigest()[:16]
    return Alert(
        kind="order",
        key=f"order:{account}:{job}:{digest}",
        job=job,
        account=account,
        text="\n".join(lines),
        run_id=run_id,
        run_url=run_url(ui_url, run_id) if run_id else None,
        details={"orders": [{"so_id": e.so_id, "status": e.status} for e in ends[:LISTED]]},
    )


def stale_tables(
    account: str,
    last_refresh: Mapping[str, datetime],
    fail_window: timedelta,
    now: datetime,
    run_id: str | None,
    ui_url: str = "",
) -> Alert:
    """One alert for the catalog tables of one account whose freshness turned FAIL."""
    tables = sorted(last_refresh)
    lines = [
        f"{table} last refreshed {last_refresh[table]:%Y-%m-%d %H:%M %Z} "
        f"({(now - last_refresh[table]).total_seconds() / 3600:.0f} h ago)"
        for table in tables
    ]
    hours = fail_window.total_seconds() / 3600
    lines.append(f"Freshness fails after {hours:g} h; check catalog_sync's runs and schedule.")
    stamp = max(last_refresh.values()).isoformat()
    return Alert(
        kind="freshness",
        key=f"freshness:{account}:{','.join(tables)}:{stamp}",
        job="catalog_sync",
        account=account,
        text="\n".join(lines),
        run_id=run_id,
        run_url=run_url(ui_url, run_id) if run_id else None,
        details={"tables": tables},
    )


def balance_warning(
    account: str, description: str, run_id: str, evaluation_id: int, ui_url: str = ""
) -> Alert:
    """The balance check's WARN: its own description says which account and by how much."""
    return Alert(
        kind="balance",
        key=f"balance:{evaluation_id}",
        job="balance_snapshot",
        account=account,
        text=mask(description) or "the balance check warned; see its description in the UI",
        run_id=run_id,
        run_url=run_url(ui_url, run_id),
    )
