"""push_orders without Dagster: each order file goes validate -> stock -> push -> record -> archive.

The order of those steps is what makes a crash harmless:

- Before a push is sent, the order is recorded as ``pending`` with ``push_attempts`` raised.
  A run that finds such a row knows a push may have reached YLH, so it skips the checks
  (stock already taken by our own order would fail them) and pushes again: YLH answers
  SO_ID_DUPLICATE with the original retailOrderNo, and nothing is created twice.
- The outcome is committed before the file leaves the inbox. A run that finds a file whose
  soId already has a retailOrderNo archives it without calling anyone.
- A ``failed`` order (Haier unreachable) keeps its file in the inbox for the next run.

Each step is its own short transaction on the warehouse's working file (``publish=False``);
the run's sync_log row is closed, and everything published, once at the end. One run at a
time owns the inbox (a file lock beside the orders), whatever Dagster's pools say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import filelock

from haier_pipeline.haier.budget import serving_orders
from haier_pipeline.haier.errors import HaierBusinessError, HaierError, HaierHttpError
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.inbox import archive, pending_files, read_order_file
from haier_pipeline.orders.model import Order, OrderDefaults
from haier_pipeline.orders.validation import (
    InvalidOrder,
    check_catalog,
    check_stock,
    parse_order,
)
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.warehouse import SyncOutcome, Warehouse, utcnow

SYNC_TYPE = "order"
LOCK_NAME = ".push_orders.lock"  # a dotfile, which pending_files never lists
DEFAULT_LOCK_TIMEOUT_S = 600.0
RAW_KEPT_BYTES = 10_000  # of an unreadable file, kept in sync_rejects for follow-up


class Log(Protocol):
    def info(self, msg: str, *args: Any) -> None: ...
    def warning(self, msg: str, *args: Any) -> None: ...


@dataclass(frozen=True)
class OrderOutcome:
    """What became of one order file in this run.

    ``detail`` is the retailOrderNo of a pushed order, else the reason, worded for the shop.
    ``already_pushed``: YLH already held the soId (a previous attempt), so nothing was created.
    """

    source_file: str
    so_id: str | None
    status: str  # pushed | rejected | failed
    detail: str
    already_pushed: bool = False


@dataclass
class PushReport:
    outcomes: list[OrderOutcome] = field(default_factory=list)
    api_calls: int = 0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def sync_outcome(self, log_id: int, stopped_by: BaseException | None = None) -> SyncOutcome:
        """Rejected orders are handled (the shop has its reason); only failed ones are owed."""
        failed = self.count(db.FAILED)
        handled = len(self.outcomes) - failed
        status = "success" if not failed else ("failed" if not handled else "partial")
        message = self.message()
        if stopped_by is not None:
            status = "failed"
            message += f"; stopped by {type(stopped_by).__name__}: {stopped_by}"
        return SyncOutcome(
            log_id, status, len(self.outcomes), handled, failed, self.api_calls, message
        )

    def message(self) -> str:
        already = sum(1 for outcome in self.outcomes if outcome.already_pushed)
        text = (
            f"{len(self.outcomes)} order files: {self.count(db.PUSHED)} pushed "
            f"({already} already at YLH), {self.count(db.REJECTED)} rejected, "
            f"{self.count(db.FAILED)} failed"
        )
        if self.count(db.FAILED):
            text += "; failed orders stay in the inbox and are retried by the next run"
        return text


class EmptyCatalog(RuntimeError):
    """No catalog synced yet: rejecting every order for unknown products would be wrong."""


class _StockUnknown(Exception):
    """Haier's stock answer could not be read, so stock is unconfirmed: retry, don't reject."""


class OrderPusher:
    """Pushes the order files of one inbox; one instance per run."""

    def __init__(
        self,
        jsh: JshClient,
        ylh: YlhClient,
        warehouse: Warehouse,
        inbox: Path,
        defaults: OrderDefaults,
        log: Log,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self.jsh = jsh
        self.ylh = ylh
        self.warehouse = warehouse
        self.inbox = inbox
        self.defaults = defaults
        self.log = log
        self.lock_timeout_s = lock_timeout_s

    def run(self, run_id: str, files: Sequence[str] = ()) -> PushReport:
        """Handle ``files`` (names in the inbox), or every pending file when none are named."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.inbox / LOCK_NAME))
        try:
            lock.acquire(timeout=self.lock_timeout_s)
        except filelock.Timeout:
            raise RuntimeError(
                f"another push_orders run has held the inbox {self.inbox} for "
                f"{self.lock_timeout_s:.0f} s; its files are being handled. Let it finish and "
                "launch this run again."
            ) from None
        try:
            return self._run_locked(run_id, files)
        finally:
            lock.release()

    def _run_locked(self, run_id: str, files: Sequence[str]) -> PushReport:
        report = PushReport()
        log_id = self.warehouse.start_sync(run_id, SYNC_TYPE)
        calls_before = self._calls()
        try:
            with self.warehouse.connect(publish=False) as con:
                catalog = db.procurable_products(con)
            if not catalog:
                raise EmptyCatalog(
                    f"the products table in {self.warehouse.path} is empty, so no order can be "
                    "validated; run catalog_sync first. No order file was touched."
                )
            for path in self._selected(files):
                outcome = self._handle(path, catalog, run_id)
                report.outcomes.append(outcome)
                self._log(outcome)
        except BaseException as error:
            report.api_calls = self._calls() - calls_before
            self.warehouse.finish_sync(report.sync_outcome(log_id, stopped_by=error))
            raise
        report.api_calls = self._calls() - calls_before
        self.warehouse.finish_sync(report.sync_outcome(log_id))
        return report

    def _calls(self) -> int:
        return self.jsh.stats.calls + self.ylh.stats.calls

    def _selected(self, files: Sequence[str]) -> list[Path]:
        pending = pending_files(self.inbox)
        if not files:
            return pending
        wanted = set(files)
        gone = sorted(wanted - {path.name for path in pending})
        if gone:
            self.log.info(
                f"{len(gone)} requested file(s) already left the inbox (handled by an earlier "
                f"run): {', '.join(gone[:10])}"
            )
        return [path for path in pending if path.name in wanted]

    # -- one order ---------------------------------------------------------------------

    def _handle(self, path: Path, catalog: Mapping[str, bool], run_id: str) -> OrderOutcome:
        try:
            raw = read_order_file(path)
        except InvalidOrder as invalid:
            return self._unreadable(path, invalid, run_id)
        so_id = _text(raw, "soId")
        prior = self._prior(so_id) if so_id else None
        if prior is not None and prior.exists_at_ylh:
            return self._archive(
                path,
                OrderOutcome(path.name, so_id, db.PUSHED, str(prior.retail_order_no), True),
            )
        try:
            order = parse_order(raw, self.defaults, source=path.name)
        except InvalidOrder as invalid:
            return self._invalid(path, invalid, raw, prior, run_id)
        facts = db.OrderFacts(
            order.so_id, path.name, order.online_no, order.total_amt, order.county_code
        )
        if prior is not None and prior.may_have_been_pushed:
            self.log.info(
                f"soId {order.so_id}: a push may have reached YLH before ({prior.status}, "
                f"{prior.push_attempts} attempt(s)); pushing again by soId, without re-checks"
            )
            return self._push(path, order, facts)
        return self._check_and_push(path, order, facts, catalog)

    def _invalid(
        self,
        path: Path,
        invalid: InvalidOrder,
        raw: Mapping[str, Any],
        prior: db.StoredOrder | None,
        run_id: str,
    ) -> OrderOutcome:
        if invalid.so_id is None:
            return self._unreadable(path, invalid, run_id)
        facts = db.OrderFacts(invalid.so_id, path.name, online_no=_text(raw, "onlineNo"))
        if prior is not None and prior.may_have_been_pushed:
            # Rejecting now would hide an order that YLH may hold from an earlier version.
            return self._fail(
                path,
                facts,
                f"a push of soId {invalid.so_id} may have reached YLH, but its file has since "
                f"been changed and is invalid; put back the file as it was pushed. {invalid}",
            )
        return self._reject(path, facts, str(invalid))

    def _check_and_push(
        self, path: Path, order: Order, facts: db.OrderFacts, catalog: Mapping[str, bool]
    ) -> OrderOutcome:
        problems = check_catalog(order, catalog)
        if problems:
            return self._reject(path, facts, "not pushable per the catalog: " + "; ".join(problems))
        try:
            with serving_orders():  # the stock check goes before catalog calls
                available = self._stock(order)
        except HaierBusinessError as refusal:
            return self._reject(path, facts, f"stock query refused: {refusal.message}")
        except (HaierError, _StockUnknown) as error:
            return self._fail(path, facts, f"stock not confirmed: {error}")
        problems = check_stock(order, available)
        if problems:
            return self._reject(path, facts, "not enough stock: " + "; ".join(problems))
        return self._push(path, order, facts)

    def _stock(self, order: Order) -> dict[str, int]:
        """Live stock per product in the order's county, summed over the serving warehouses."""
        available = {}
        for code in order.quantities_by_product():
            result = self.jsh.stock(code, order.county_code)
            if result.rejected:
                raise _StockUnknown(result.rejected[0].reason)
            available[code] = sum(level.stock_qty for level in result.records)
        return available

    def _push(self, path: Path, order: Order, facts: db.OrderFacts) -> OrderOutcome:
        with self.warehouse.transaction(publish=False) as con:
            db.save_order(con, facts, db.PENDING, utcnow(), attempt=True)
        try:
            result = self.ylh.create_order(order.to_ylh_payload())
        except HaierBusinessError as refusal:
            return self._reject(
                path, facts, f"YLH refused the order ({refusal.code}): {refusal.message}"
            )
        except HaierHttpError as error:
            if error.status == 400:
                return self._reject(path, facts, f"YLH refused the request as malformed: {error}")
            return self._fail(path, facts, str(error))
        except HaierError as error:
            return self._fail(path, facts, str(error))
        with self.warehouse.transaction(publish=False) as con:
            db.save_order(con, facts, db.PUSHED, utcnow(), retail_order_no=result.retail_order_no)
        outcome = OrderOutcome(
            path.name, order.so_id, db.PUSHED, result.retail_order_no, result.duplicate
        )
        return self._archive(path, outcome)

    # -- outcomes ----------------------------------------------------------------------

    def _reject(self, path: Path, facts: db.OrderFacts, reason: str) -> OrderOutcome:
        with self.warehouse.transaction(publish=False) as con:
            db.save_order(con, facts, db.REJECTED, utcnow(), last_error=reason)
        return self._archive(path, OrderOutcome(path.name, facts.so_id, db.REJECTED, reason))

    def _fail(self, path: Path, facts: db.OrderFacts, error: str) -> OrderOutcome:
        """Recorded, but the file stays in the inbox so that a later run retries it."""
        with self.warehouse.transaction(publish=False) as con:
            db.save_order(con, facts, db.FAILED, utcnow(), last_error=error)
        return OrderOutcome(path.name, facts.so_id, db.FAILED, error)

    def _unreadable(self, path: Path, invalid: InvalidOrder, run_id: str) -> OrderOutcome:
        """No soId to key an orders row on: the reason goes to sync_rejects under the file name."""
        with path.open("rb") as handle:
            raw = handle.read(RAW_KEPT_BYTES).decode("utf-8", errors="replace")
        with self.warehouse.transaction(publish=False) as con:
            db.add_reject(con, run_id, SYNC_TYPE, path.name, str(invalid), raw, utcnow())
        return self._archive(path, OrderOutcome(path.name, None, db.REJECTED, str(invalid)))

    def _archive(self, path: Path, outcome: OrderOutcome) -> OrderOutcome:
        """Only called once the outcome is committed, so a crash here loses nothing."""
        archive(path, outcome.status)
        return outcome

    def _prior(self, so_id: str) -> db.StoredOrder | None:
        with self.warehouse.connect(publish=False) as con:
            return db.stored_order(con, so_id)

    def _log(self, outcome: OrderOutcome) -> None:
        who = f"soId {outcome.so_id}" if outcome.so_id else "an order without soId"
        where = f"{outcome.source_file}: {who}"
        if outcome.status == db.PUSHED:
            again = " (already at YLH, not created again)" if outcome.already_pushed else ""
            self.log.info(f"{where} pushed as {outcome.detail}{again}")
        elif outcome.status == db.REJECTED:
            self.log.warning(f"{where} rejected: {outcome.detail}")
        else:
            self.log.warning(
                f"{where} failed, stays in the inbox for the next run: {outcome.detail}"
            )


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value.strip() else None
