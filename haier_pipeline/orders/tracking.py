"""track_logistics without Dagster: new logistics events of every order still on its way.

Two sources, as haier-api.md offers them: 2.4 (per retailOrderNo) gives the milestones, 3.5
(all orders in one batched call) gives carrier and serial number per parcel, which fill in
what a 2.4 event leaves out. An event is keyed by (so_id, logistics_no, status), so a run
that sees an event again stores nothing new; the key never takes a value from 3.5, whose
answer grows as parcels ship, so that the same event always gets the same key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.catalog.concurrency import call_all
from haier_pipeline.haier.errors import HaierError
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.records import LogisticsEvent, LogisticsNumber, ParseResult
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.runlog import Log
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.outcomes import ErrorSample, sync_status
from haier_pipeline.storage.warehouse import SyncOutcome, Warehouse, utcnow

SYNC_TYPE = "logistics"
SO_NUMBERS_PER_CALL = 200  # 3.5 names no limit; this keeps one body well under 10 kB


@dataclass
class _Parcels:
    """3.5's parcels, found by (SO number, tracking number) or (SO number, delivery record)."""

    by_number: defaultdict[tuple[str, str], list[LogisticsNumber]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_delivery: defaultdict[tuple[str, str | None], list[LogisticsNumber]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, parcel: LogisticsNumber) -> None:
        self.by_number[(parcel.order_code, parcel.logistics_no)].append(parcel)
        self.by_delivery[(parcel.order_code, parcel.delivery_record_code)].append(parcel)

    def of(self, event: LogisticsEvent) -> LogisticsNumber | None:
        """The event's parcel: by its tracking number, else the only one of its delivery."""
        if event.logistics_no:
            matches = self.by_number.get((event.order_code, event.logistics_no), [])
        else:
            matches = self.by_delivery.get((event.order_code, event.delivery_record_code), [])
        return matches[0] if len(matches) == 1 else None


@dataclass
class TrackingReport:
    orders: int = 0
    refreshed: int = 0
    new_events: int = 0
    malformed_events: int = 0
    api_calls: int = 0
    errors: ErrorSample = field(default_factory=ErrorSample)

    @property
    def failed(self) -> int:
        return self.orders - self.refreshed

    def message(self) -> str:
        text = f"{self.refreshed} of {self.orders} orders refreshed, {self.new_events} new events"
        if self.malformed_events:
            text += f", {self.malformed_events} malformed events in sync_rejects"
        if self.errors:
            text += f"; errors: {self.errors}"
        return text

    def sync_outcome(self, log_id: int, stopped_by: BaseException | None = None) -> SyncOutcome:
        status = sync_status(self.refreshed, self.failed)
        message = self.message()
        if stopped_by is not None:
            status = "failed"
            message += f"; stopped by {type(stopped_by).__name__}: {stopped_by}"
        return SyncOutcome(
            log_id, status, self.orders, self.refreshed, self.failed, self.api_calls, message
        )


class LogisticsTracker:
    """One refresh of every pushed or confirmed order of one account that is not delivered
    yet, with that account's clients (its orders are only visible to its own credentials)."""

    def __init__(
        self,
        jsh: JshClient,
        ylh: YlhClient,
        warehouse: Warehouse,
        seller_code: str,
        log: Log,
        *,
        max_workers: int = 8,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self.account = account
        self.jsh = jsh
        self.ylh = ylh
        self.warehouse = warehouse
        self.seller_code = seller_code
        self.log = log
        self.max_workers = max_workers

    def run(self, run_id: str) -> TrackingReport:
        report = TrackingReport()
        log_id = self.warehouse.start_sync(run_id, SYNC_TYPE, self.account)
        calls_before = self.jsh.stats.calls + self.ylh.stats.calls
        try:
            with self.warehouse.connect(publish=False) as con:
                tracked = db.orders_to_track(con, self.account)
            report.orders = len(tracked)
            parcels = self._parcels(tracked, report)
            rows = self._events(tracked, parcels, report, run_id)
            with self.warehouse.transaction(publish=False) as con:
                report.new_events = db.add_logistics_events(con, rows, utcnow(), self.account)
        except BaseException as error:
            report.api_calls = self.jsh.stats.calls + self.ylh.stats.calls - calls_before
            self.warehouse.finish_sync(report.sync_outcome(log_id, stopped_by=error))
            raise
        report.api_calls = self.jsh.stats.calls + self.ylh.stats.calls - calls_before
        self.warehouse.finish_sync(report.sync_outcome(log_id))
        return report

    def _parcels(self, tracked: Sequence[db.TrackedOrder], report: TrackingReport) -> _Parcels:
        """3.5 in batched calls; without it events are still stored, just less complete."""
        parcels = _Parcels()
        numbers = [order.retail_order_no for order in tracked]
        for start in range(0, len(numbers), SO_NUMBERS_PER_CALL):
            try:
                result = self.ylh.logistics_numbers(numbers[start : start + SO_NUMBERS_PER_CALL])
            except HaierError as error:
                self.log.warning(f"carrier numbers (3.5) unavailable this run: {error}")
                report.errors.note(f"3.5: {error}")
                continue
            for parcel in result.records:
                parcels.add(parcel)
        return parcels

    def _events(
        self,
        tracked: Sequence[db.TrackedOrder],
        parcels: _Parcels,
        report: TrackingReport,
        run_id: str,
    ) -> list[dict[str, Any]]:
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for order, result, error in call_all(self._query, tracked, self.max_workers):
            if error is not None or result is None:
                self.log.warning(f"soId {order.so_id}: logistics not refreshed: {error}")
                report.errors.note(f"{order.so_id}: {error}")
                continue
            report.refreshed += 1
            rows.extend(_row(order, event, parcels, now) for event in result.records)
            if result.rejected:
                report.malformed_events += len(result.rejected)
                with self.warehouse.transaction(publish=False) as con:
                    for reject in result.rejected:
                        db.add_reject(
                            con,
                            run_id,
                            SYNC_TYPE,
                            order.so_id,
                            reject.reason,
                            reject.raw,
                            now,
                            account=self.account,
                        )
        return rows

    def _query(self, order: db.TrackedOrder) -> ParseResult[LogisticsEvent]:
        return self.jsh.logistics(order.retail_order_no, self.seller_code)


def _row(
    order: db.TrackedOrder, event: LogisticsEvent, parcels: _Parcels, now: datetime
) -> dict[str, Any]:
    parcel = parcels.of(event)
    return {
        "so_id": order.so_id,
        # The key column cannot be NULL; the fallbacks are stable for a given event.
        "logistics_no": event.logistics_no or event.delivery_record_code or order.retail_order_no,
        "status": event.status,
        "logistics_company": event.logistics_company
        or (parcel.logistics_company if parcel else None),
        "sn_code": event.sn_code or (parcel.sn_code if parcel else None),
        "delivery_record_code": event.delivery_record_code,
        "description": event.description,
        "status_time": event.status_time,
        "source": event.source,
        "recorded_at": now,
    }
