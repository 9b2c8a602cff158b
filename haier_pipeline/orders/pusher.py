"""push_orders without Dagster: each order file goes validate -> stock -> push -> record -> archive.

The order of those steps is what makes a crash harmless:

- Before a push is sent, the order is recorded as ``pending`` with ``push_attempts`` raised.
  A run that finds such a row knows a push may have reached YLH, so it skips the checks
  (stock already taken by our own order would fail them) and pushes again: YLH answers
  SO_ID_DUPLICATE with the original retailOrderNo, and nothing is created twice.
- The outcome is committed before the file leaves the inbox. A run that finds a file whose
  soId already has a retailOrderNo archives it without calling anyone.
- A ``failed`` order (Haier unreachable) keeps its file in the inbox for the next run.
- A file that changed within the settle window (``HAIER_ORDER_SETTLE_S``, 10 s by default)
  may still be being written: it is judged at the end of the run once it has stayed
  unchanged that long. Nothing that is not a plain file is read.
- A file that does not parse is never moved while it may still be written: it stays in the
  inbox, listed as waiting, until it has stayed unchanged for ``HAIER_ORDER_SET_ASIDE_MIN``
  (30 minutes by default); only then is it set aside as rejected. A writer that stalls for
  longer than the settle window finishes its file in place, and the next run pushes it.
  A waiting file costs a run one read, never a wait.
- A run takes at most ``MAX_FILES_PER_RUN`` files, so its time and memory (and its hold on
  the ``haier_orders`` pool, which apply_callbacks shares) stay bounded whatever the inbox
  holds; the sensor requests new files in batches of that size, and a run without named
  files starts after the last file the previous such run took, so files that stay (failed,
  waiting) never starve the others.
- Each file belongs to one account (its ``account`` field, or the only account configured):
  its catalog validates it, its clients and defaults push it, its row carries it. An account
  whose clients cannot be built (a credential missing) fails only its own orders.
- A second file for an soId already at YLH is compared with what was pushed (``sent``):
  identical is a harmless ``duplicate``, different is rejected naming both files and the
  fields; neither is sent, and the pushed order's row is left as it is.

Each step is its own short transaction on the warehouse's working file (``publish=False``);
the run's sync_log row is closed, and everything published, once at the end. One run at a
time owns the inbox (a file lock beside the orders), whatever Dagster's pools say.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier.budget import serving_orders
from haier_pipeline.haier.errors import HaierBusinessError, HaierError, HaierHttpError
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.listing import few
from haier_pipeline.orders import sent
from haier_pipeline.orders.fields import ORDER_ID
from haier_pipeline.orders.inbox import (
    ChangedWhileRead,
    RefusedEntry,
    archive,
    entry_problem,
    identity,
    parse_order_bytes,
    pending_files,
    read_order_bytes,
    set_aside_after_s,
    settle_window_s,
)
from haier_pipeline.orders.model import Order, OrderDefaults
from haier_pipeline.orders.validation import (
    InvalidOrder,
    check_catalog,
    check_stock,
    order_account,
    parse_order,
    record_id,
)
from haier_pipeline.runlog import Log
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.warehouse import SyncOutcome, Warehouse, utcnow

SYNC_TYPE = "order"
LOCK_NAME = ".push_orders.lock"  # a dotfile, which pending_files never lists
RESUME_NAME = ".push_orders.resume"
"""The last file a run without named files took; the next such run starts after it."""
MAX_FILES_PER_RUN = 100
"""Order files one run judges. An invalid file costs about 80 ms (measured, issue 15), so a
run holds the orders pool for seconds, not the minutes a 5,000-file inbox would take."""
DEFAULT_LOCK_TIMEOUT_S = 600.0
RAW_KEPT_BYTES = 10_000  # of an unreadable file, kept in sync_rejects for follow-up
DUPLICATE = "duplicate"
"""Outcome of a second file identical to an order already at YLH (not an orders status)."""


@dataclass(frozen=True)
class OrderOutcome:
    """What became of one order file in this run.

    ``detail`` is the retailOrderNo of a pushed order, else the reason, worded for the shop.
    ``already_pushed``: YLH already held the soId (a previous attempt), so nothing was created.
    """

    source_file: str
    so_id: str | None
    status: str  # pushed | rejected | failed | duplicate
    detail: str
    already_pushed: bool = False


@dataclass
class PushReport:
    outcomes: list[OrderOutcome] = field(default_factory=list)
    api_calls: int = 0
    waiting: list[str] = field(default_factory=list)
    """Files left in the inbox because they may still be being written (still changing, or
    not whole JSON and not yet unchanged for the set-aside time)."""
    left_over: int = 0
    """Files past this run's cap, left in the inbox for the next run."""

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
        if self.count(DUPLICATE):
            text += f", {self.count(DUPLICATE)} duplicates of orders already pushed"
        if self.count(db.FAILED):
            text += "; failed orders stay in the inbox and are retried by the next run"
        if self.waiting:
            text += (
                f"; {len(self.waiting)} waiting in the inbox, as they may still be being "
                f"written: {few(self.waiting)}"
            )
        if self.left_over:
            text += f"; {self.left_over} more file(s) left in the inbox for the next run"
        return text


@dataclass(frozen=True)
class AccountLink:
    """What pushing one account's orders needs: its clients and the defaults of its files.

    ``problem`` says why the account cannot reach Haier this run (a credential missing); its
    orders then fail and stay in the inbox, while other accounts' orders go through.
    """

    name: str
    defaults: OrderDefaults
    jsh: JshClient | None = None
    ylh: YlhClient | None = None
    problem: str | None = None

    @property
    def calls(self) -> int:
        return sum(client.stats.calls for client in (self.jsh, self.ylh) if client is not None)


class EmptyCatalog(RuntimeError):
    """No catalog synced yet: rejecting every order for unknown products would be wrong."""


class _StockUnknown(Exception):
    """Haier's stock answer could not be read, so stock is unconfirmed: retry, don't reject."""


class _Waiting(Exception):
    """The file may still be being written: leave it in the inbox, judged by a later run."""


class OrderPusher:
    """Pushes the order files of one inbox; one instance per run."""

    def __init__(
        self,
        links: Sequence[AccountLink],
        warehouse: Warehouse,
        inbox: Path,
        log: Log,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        settle_s: float | None = None,
        set_aside_s: float | None = None,
        max_files: int = MAX_FILES_PER_RUN,
    ) -> None:
        """``settle_s``: how long a file must stay unchanged before it is read; None reads
        HAIER_ORDER_SETTLE_S (10 s by default). ``set_aside_s``: how long a file that does
        not parse must stay unchanged before it is set aside; None reads
        HAIER_ORDER_SET_ASIDE_MIN (30 minutes by default). ``max_files``: files per run."""
        self.links = {link.name: link for link in links}
        self.warehouse = warehouse
        self.inbox = inbox
        self.log = log
        self.lock_timeout_s = lock_timeout_s
        self.settle_s = settle_window_s() if settle_s is None else settle_s
        self.set_aside_s = set_aside_after_s() if set_aside_s is None else set_aside_s
        self.max_files = max_files
        self.catalogs: dict[str, dict[str, bool]] = {}

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
                self.catalogs = {name: db.procurable_products(con, name) for name in self.links}
            if not any(self.catalogs.values()):
                raise EmptyCatalog(
                    f"the products table in {self.warehouse.path} is empty, so no order can be "
                    "validated; run catalog_sync first. No order file was touched."
                )
            self._handle_all(self._selected(files, report), run_id, report)
        except BaseException as error:
            report.api_calls = self._calls() - calls_before
            self.warehouse.finish_sync(report.sync_outcome(log_id, stopped_by=error))
            raise
        report.api_calls = self._calls() - calls_before
        self.warehouse.finish_sync(report.sync_outcome(log_id))
        return report

    def _calls(self) -> int:
        return sum(link.calls for link in self.links.values())

    def _selected(self, files: Sequence[str], report: PushReport) -> list[Path]:
        """The named files still in the inbox, or every pending file starting after the
        last one the previous unnamed run took; at most ``max_files`` of them."""
        pending = pending_files(self.inbox)
        if files:
            wanted = set(files)
            gone = sorted(wanted - {path.name for path in pending})
            if gone:
                self.log.info(
                    f"{len(gone)} requested file(s) already left the inbox (handled by an "
                    f"earlier run): {few(gone)}"
                )
            chosen = [path for path in pending if path.name in wanted]
        else:
            chosen = self._rotated(pending)
        report.left_over = max(0, len(chosen) - self.max_files)
        taken = chosen[: self.max_files]
        if taken and not files:
            (self.inbox / RESUME_NAME).write_text(taken[-1].name, encoding="utf-8")
        return taken

    def _rotated(self, pending: list[Path]) -> list[Path]:
        """``pending`` (sorted by name) starting after the name in RESUME_NAME, wrapped."""
        try:
            last = (self.inbox / RESUME_NAME).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return pending
        start = next((i for i, path in enumerate(pending) if path.name > last), 0)
        return pending[start:] + pending[:start]

    # -- settling ----------------------------------------------------------------------

    def _handle_all(self, paths: Sequence[Path], run_id: str, report: PushReport) -> None:
        """Settled files now, in name order; files changed within the settle window that do
        not yet hold a whole JSON order at the end, once they have stayed unchanged that long
        (at most one window's wait). A fresh file that already parses is whole (a half-written
        JSON object never parses), so a shop's new order is pushed at once."""
        listed = {path: info for path in paths if (info := _lstat(path)) is not None}
        now = time.time()
        fresh = {
            path: info
            for path, info in listed.items()
            if entry_problem(info) is None and self._changing(info, now) and not _whole(path, info)
        }
        for path, info in listed.items():
            if path not in fresh:
                self._judge(path, info, run_id, report)
        if not fresh:
            return
        self._wait_for(fresh, now)
        for path, before in fresh.items():
            info = _lstat(path)
            if info is None:
                continue
            unchanged_since = min(info.st_mtime, now)  # a future mtime counts from first sight
            if identity(info) != identity(before) or self._changing_since(unchanged_since):
                self._leave_waiting(path, "it is still changing", report)
            else:
                self._judge(path, info, run_id, report, settled=True)

    def _judge(
        self,
        path: Path,
        info: os.stat_result,
        run_id: str,
        report: PushReport,
        *,
        settled: bool = False,
    ) -> None:
        try:
            outcome = self._handle(path, info, run_id, settled=settled)
        except _Waiting as waiting:
            self._leave_waiting(path, str(waiting), report)
            return
        self._record(outcome, report)

    def _changing(self, info: os.stat_result, now: float) -> bool:
        """Modified within the window, or stamped in the future (a clock ahead of ours)."""
        return now - info.st_mtime < self.settle_s

    def _changing_since(self, moment: float) -> bool:
        return time.time() - moment < self.settle_s

    def _wait_for(self, fresh: Mapping[Path, os.stat_result], since: float) -> None:
        """Sleep until the youngest fresh file is one window old, counted from its mtime or,
        for a future mtime, from when we first saw it; never more than one window."""
        until = max(min(info.st_mtime, since) + self.settle_s for info in fresh.values())
        names = ", ".join(path.name for path in list(fresh)[:10])
        self.log.info(
            f"{len(fresh)} order file(s) changed less than {self.settle_s:g} s ago and may still "
            f"be being written ({names}); judging them once they have stayed unchanged"
        )
        time.sleep(max(0.0, min(until - time.time(), self.settle_s)))

    def _leave_waiting(self, path: Path, why: str, report: PushReport) -> None:
        report.waiting.append(path.name)
        self.log.warning(
            f"{path.name}: {why}, so it may still be being written; left in the inbox for a "
            "later run. Shops should write to a temporary name and rename the finished file."
        )

    def _record(self, outcome: OrderOutcome | None, report: PushReport) -> None:
        if outcome is not None:
            report.outcomes.append(outcome)
            self._log(outcome)

    # -- one order ---------------------------------------------------------------------

    def _handle(
        self,
        path: Path,
        listed: os.stat_result,
        run_id: str,
        *,
        settled: bool = False,
    ) -> OrderOutcome | None:
        """The file's outcome, or None when it was not judged (gone, or still changing)."""
        problem = entry_problem(listed)
        if problem is not None:
            return self._refuse_entry(path, problem, run_id)
        try:
            data = read_order_bytes(path, expected=listed)
        except RefusedEntry as refused:
            return self._refuse_entry(path, str(refused), run_id)
        except ChangedWhileRead as changed:
            raise _Waiting("it changed after it had settled" if settled else str(changed)) from None
        except FileNotFoundError:
            self.log.info(f"{path.name} left the inbox before it was read")
            return None
        try:
            raw = parse_order_bytes(data, path.name)
        except InvalidOrder as invalid:
            self._unless_stalled_long(listed, invalid)
            return self._unreadable(path, invalid, data, run_id)
        try:
            link = self.links[order_account(raw, list(self.links), source=path.name)]
        except InvalidOrder as invalid:
            return self._conflict(path, invalid.so_id, str(invalid), data, run_id)
        so_id = record_id(raw)
        prior = self._prior(so_id, link.name) if so_id else None
        if prior is not None and prior.exists_at_ylh:
            return self._second_file(path, raw, data, prior, link, run_id)
        if so_id and link.problem is not None:
            facts = db.OrderFacts(so_id, path.name, account=link.name)
            return self._fail(path, facts, f"account {link.name}: {link.problem}")
        try:
            order = parse_order(raw, link.defaults, source=path.name, account=link.name)
        except InvalidOrder as invalid:
            return self._invalid(path, invalid, raw, data, prior, link, run_id)
        facts = db.OrderFacts(
            order.so_id,
            path.name,
            order.online_no,
            order.total_amt,
            order.county_code,
            account=link.name,
        )
        if prior is not None and prior.may_have_been_pushed:
            return self._push_again(path, order, facts, prior, link)
        return self._check_and_push(path, order, facts, link)

    def _unless_stalled_long(self, listed: os.stat_result, invalid: InvalidOrder) -> None:
        """Raise _Waiting unless the file has stayed unchanged for the set-aside time: only
        then is a file that does not parse broken rather than half written."""
        unchanged_s = time.time() - listed.st_mtime  # negative for a future mtime: waits
        if unchanged_s < self.set_aside_s:
            minutes = self.set_aside_s / 60
            raise _Waiting(
                f"it is not a whole order yet ({invalid.problems[0]}); it is set aside as "
                f"rejected once unchanged for {minutes:g} min (HAIER_ORDER_SET_ASIDE_MIN)"
            )

    def _push_again(
        self,
        path: Path,
        order: Order,
        facts: db.OrderFacts,
        prior: db.StoredOrder,
        link: AccountLink,
    ) -> OrderOutcome:
        """A push may have reached YLH: only the same content may be pushed again by soId."""
        earlier = sent.recall(self._sent_folder(link.name), order.so_id)
        if earlier is not None:
            differing = sent.differing_fields(earlier.content, sent.canonical(order))
            if differing:
                return self._fail(
                    path,
                    facts,
                    f"a push of soId {order.so_id} from {earlier.source_file} may have reached "
                    f"YLH, and this file differs from it in {', '.join(differing[:10])}; put "
                    "back the file as it was pushed, or give a new order a new soId",
                )
        self.log.info(
            f"soId {order.so_id}: a push may have reached YLH before ({prior.status}, "
            f"{prior.push_attempts} attempt(s)); pushing again by soId, without re-checks"
        )
        return self._push(path, order, facts, link)

    def _second_file(
        self,
        path: Path,
        raw: Mapping[str, Any],
        data: bytes,
        prior: db.StoredOrder,
        link: AccountLink,
        run_id: str,
    ) -> OrderOutcome:
        """A file for an soId YLH already holds: never sent, never changes the order's row.

        The file that was pushed (left in the inbox by a crash before archiving) is archived
        as pushed; a different file with identical content is a harmless duplicate; anything
        else is rejected with both file names and the fields that differ.
        """
        so_id = prior.so_id
        earlier = sent.recall(self._sent_folder(link.name), so_id)
        first_file = earlier.source_file if earlier is not None else prior.source_file
        pushed = f"soId {so_id} was pushed from {first_file} as {prior.retail_order_no}"
        try:
            order = parse_order(raw, link.defaults, source=path.name, account=link.name)
        except InvalidOrder as invalid:
            return self._conflict(
                path, so_id, f"{pushed}; this file is invalid: {invalid}", data, run_id
            )
        if earlier is None:
            if path.name == first_file:  # pushed before contents were recorded
                return self._archive(
                    path,
                    OrderOutcome(path.name, so_id, db.PUSHED, str(prior.retail_order_no), True),
                )
            return self._conflict(
                path,
                so_id,
                f"{pushed}, whose content is not on record to compare with; not pushed again. "
                "A new order needs a new soId",
                data,
                run_id,
            )
        differing = sent.differing_fields(earlier.content, sent.canonical(order))
        if differing:
            return self._conflict(
                path,
                so_id,
                f"{pushed}, and {path.name} differs from {first_file} in "
                f"{', '.join(differing[:10])}{' and more' if len(differing) > 10 else ''}; not "
                "pushed. A new order needs a new soId; a change to a pushed order goes through "
                "cancel_order or reschedule_order",
                data,
                run_id,
            )
        if path.name == first_file:
            return self._archive(
                path, OrderOutcome(path.name, so_id, db.PUSHED, str(prior.retail_order_no), True)
            )
        reason = f"harmless duplicate: identical to {first_file}; {pushed}, not pushed again"
        with self.warehouse.transaction(publish=False) as con:
            db.add_reject(con, run_id, SYNC_TYPE, path.name, reason, _head(data), utcnow())
        return self._archive(path, OrderOutcome(path.name, so_id, DUPLICATE, reason))

    def _conflict(
        self, path: Path, so_id: str | None, reason: str, data: bytes, run_id: str
    ) -> OrderOutcome:
        """Rejected without touching any orders row: the row belongs to the order YLH holds,
        or no account can be told (reason in sync_rejects, under the file name)."""
        with self.warehouse.transaction(publish=False) as con:
            db.add_reject(con, run_id, SYNC_TYPE, path.name, reason, _head(data), utcnow())
        return self._archive(path, OrderOutcome(path.name, so_id, db.REJECTED, reason))

    def _invalid(
        self,
        path: Path,
        invalid: InvalidOrder,
        raw: Mapping[str, Any],
        data: bytes,
        prior: db.StoredOrder | None,
        link: AccountLink,
        run_id: str,
    ) -> OrderOutcome:
        if invalid.so_id is None:
            return self._unreadable(path, invalid, data, run_id)
        facts = db.OrderFacts(
            invalid.so_id, path.name, online_no=_order_id(raw, "onlineNo"), account=link.name
        )
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
        self, path: Path, order: Order, facts: db.OrderFacts, link: AccountLink
    ) -> OrderOutcome:
        catalog = self.catalogs[link.name]
        if not catalog:
            return self._fail(
                path,
                facts,
                f"account {link.name} has no synced catalog to validate the order against; "
                f"run catalog_sync for {link.name} (partition {link.name})",
            )
        problems = check_catalog(order, catalog)
        if problems:
            return self._reject(path, facts, "not pushable per the catalog: " + "; ".join(problems))
        try:
            with serving_orders():  # the stock check goes before catalog calls
                available = self._stock(order, link)
        except HaierBusinessError as refusal:
            return self._reject(path, facts, f"stock query refused: {refusal.message}")
        except (HaierError, _StockUnknown) as error:
            return self._fail(path, facts, f"stock not confirmed: {error}")
        problems = check_stock(order, available)
        if problems:
            return self._reject(path, facts, "not enough stock: " + "; ".join(problems))
        return self._push(path, order, facts, link)

    def _stock(self, order: Order, link: AccountLink) -> dict[str, int]:
        """Live stock per product in the order's county, summed over the serving warehouses."""
        assert link.jsh is not None  # an account without clients has its problem set
        available = {}
        for code in order.quantities_by_product():
            result = link.jsh.stock(code, order.county_code)
            if result.rejected:
                raise _StockUnknown(result.rejected[0].reason)
            available[code] = sum(level.stock_qty for level in result.records)
        return available

    def _push(
        self, path: Path, order: Order, facts: db.OrderFacts, link: AccountLink
    ) -> OrderOutcome:
        assert link.ylh is not None  # an account without clients has its problem set
        content = sent.SentOrder(order.so_id, path.name, sent.canonical(order))
        sent.record(self._sent_folder(link.name), content)
        with self.warehouse.transaction(publish=False) as con:
            db.save_order(con, facts, db.PENDING, utcnow(), attempt=True)
        try:
            result = link.ylh.create_order(order.to_ylh_payload())
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

    def _unreadable(
        self, path: Path, invalid: InvalidOrder, data: bytes, run_id: str
    ) -> OrderOutcome:
        """No soId to key an orders row on: the reason goes to sync_rejects under the file name."""
        with self.warehouse.transaction(publish=False) as con:
            db.add_reject(con, run_id, SYNC_TYPE, path.name, str(invalid), _head(data), utcnow())
        return self._archive(path, OrderOutcome(path.name, None, db.REJECTED, str(invalid)))

    def _refuse_entry(self, path: Path, problem: str, run_id: str) -> OrderOutcome:
        """Not a plain file: recorded by name and reason only (never what it points to), and
        the entry itself, not its target, moved to processed/rejected so it is reported once."""
        reason = f"{path.name} {problem}; it was not read"
        with self.warehouse.transaction(publish=False) as con:
            db.add_reject(con, run_id, SYNC_TYPE, path.name, reason, None, utcnow())
        return self._archive(path, OrderOutcome(path.name, None, db.REJECTED, reason))

    def _archive(self, path: Path, outcome: OrderOutcome) -> OrderOutcome:
        """Only called once the outcome is committed, so a crash here loses nothing."""
        archive(path, outcome.status)
        return outcome

    def _prior(self, so_id: str, account: str) -> db.StoredOrder | None:
        with self.warehouse.connect(publish=False) as con:
            return db.stored_order(con, so_id, account)

    def _sent_folder(self, account: str) -> Path:
        """Each account's soIds apart (YLH holds them per account); ``default`` where it was."""
        folder = sent.folder_for(self.inbox)
        return folder if account == DEFAULT_ACCOUNT else folder / account

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


def _order_id(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and ORDER_ID.fullmatch(value) else None


def _head(data: bytes) -> str:
    """The start of a file's bytes as text, for sync_rejects.raw."""
    return data[:RAW_KEPT_BYTES].decode("utf-8", errors="replace")


def _lstat(path: Path) -> os.stat_result | None:
    """The entry itself (a link is not followed); None once it has left the inbox."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _whole(path: Path, info: os.stat_result) -> bool:
    """The file, as listed, already holds a complete JSON order document."""
    try:
        parse_order_bytes(read_order_bytes(path, expected=info), path.name)
    except (InvalidOrder, RefusedEntry, ChangedWhileRead, OSError):
        return False
    return True
