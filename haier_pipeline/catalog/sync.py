"""One catalog sync: products, then prices and stock of the procurable ones, then publish.

Dagster-free, so the benchmark and the tests drive exactly what the ``catalog`` asset runs.
Each phase streams its batches into the run's staging file; only when all three are done
does one transaction swap the three tables in and close their sync_log rows, so analysts see
the previous catalog or the new one, never a mix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product as cross
from typing import Any

import pyarrow as pa

from haier_pipeline.accounts import DEFAULT_ACCOUNT, Account
from haier_pipeline.batching import batched
from haier_pipeline.catalog.concurrency import call_all
from haier_pipeline.catalog.rows import (
    price_rows,
    product_rows,
    reject_rows,
    stock_row,
    stock_rows,
)
from haier_pipeline.haier.errors import (
    HaierBusinessError,
    HaierError,
    HaierUnreachableError,
    refusal_key,
    refused_settings,
    remedy,
    short_reason,
)
from haier_pipeline.haier.jsh import PRODUCT_CHUNK, JshClient
from haier_pipeline.haier.records import ParseResult, RejectedRecord
from haier_pipeline.runlog import Log
from haier_pipeline.storage.outcomes import ErrorSample, sync_status
from haier_pipeline.storage.schema import PRICES, PRODUCTS, STOCK, Table
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import PublishError, SyncOutcome, Warehouse, utcnow

BATCH_SIZE = 20  # Haier accepts at most 20 product codes per call
FLUSH_ROWS = 5_000  # rows buffered before an Arrow append to staging
STOP_AFTER_REFUSALS = 3
"""When a phase stops because its answer will not change until a person acts.

Haier's business codes are not published, so a refusal is judged by what it does, not by its
code: the first calls of a phase all refused with the same code and message, none having
succeeded yet, mean the calls themselves are refused (a wrong password, an unknown customer
code), whatever the code. Three, because a records-level refusal (a product not sold in a
county) is about one product or one county, and the first three calls of a phase are three
batches of 20 products, or, stock being called in diagonal order (:func:`_diagonal`), three
different products in three different counties; 1,350 calls each refused alike only cost
time. Once a call of the phase has succeeded, identical refusals are about records and never
stop it. Refusals that are not business answers and need a person (a refused token, HTTP 403
or 404) stop it after three in a row with no success between them: a storm of revoked
tokens, where most calls still go through, keeps going. A gateway that cannot be connected to
at all stops the phase at once. The keys not tried keep their previous rows."""
PROGRESS_EVERY_S = 30.0
PROGRESS_STEPS = 10  # a progress line about every 10 % of a phase, or every 30 s


@dataclass
class PhaseReport:
    """What one sync type did: counts for sync_log and metadata for the Dagster UI."""

    sync_type: str
    table: Table
    total: int = 0
    success: int = 0
    failed: int = 0
    malformed: int = 0
    calls: int = 0
    seconds: float = 0.0
    errors: ErrorSample = field(default_factory=ErrorSample)
    rows: int = 0  # rows in the published table after the swap
    retries: int = 0
    http_429: int = 0
    refusal: HaierError | None = None  # what stopped the phase, or failed all of it alike
    not_tried: int = 0  # keys left untried when the phase stopped on repeated refusals
    account: Account = field(default_factory=lambda: Account(DEFAULT_ACCOUNT))

    @property
    def needs_person(self) -> bool:
        """The phase failed for a reason retrying will not cure: a setting or the gateway."""
        return self._fix() is not None

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def status(self) -> str:
        return sync_status(self.success, self.failed)

    def note_error(self, error: Exception) -> None:
        self.errors.note(f"{type(error).__name__}: {error}")

    def message(self, run_id: str, *, rejects_published: bool = True) -> str:
        """``rejects_published=False`` for a sync that publishes nothing, sync_rejects included:
        its message must not send the user looking for rows that were never written."""
        text = f"loaded {self.success} of {self.total} {self.sync_type} records"
        if self.failed:
            text += (
                f"; {self.failed} failed ({self.malformed} malformed, "
                f"{self.failed - self.malformed} in failed calls)"
            )
            if rejects_published:
                text += f"; see sync_rejects where run_id = '{run_id}'"
        if self.not_tried and self.refusal is not None:
            text += f"; stopped ({short_reason(self.refusal)}), {self.not_tried} not tried"
        if self.errors:
            text += f"; errors: {self.errors}"
        return text

    def problem(self, run_id: str, *, rejects_published: bool = True) -> str:
        """One line for the operator: what failed, for which account, and what to fix."""
        fix = self._fix()
        if self.refusal is None or fix is None:
            return f"{self.sync_type}: {self.message(run_id, rejects_published=rejects_published)}"
        if isinstance(self.refusal, HaierUnreachableError):
            return f"catalog_sync: account {self.account.name}: {self.refusal}"
        loaded = f"{self.success} of {self.total}" if self.total else "no"
        return (
            f"{self.sync_type}: loaded {loaded} records of account {self.account.name}; "
            f"Haier refused the calls ({short_reason(self.refusal)}); "
            f"{fix}, then run catalog_sync again. The {self.table.name} table keeps its "
            "previous rows."
        )

    def _fix(self) -> str | None:
        """What the account's operator must change, in the names the account reads."""
        error = self.refusal
        if error is None:
            return None
        if isinstance(error, HaierUnreachableError):
            return str(error)
        settings = refused_settings(error)
        known = remedy(error)
        if len(settings) == 1 and known is not None:
            return known.text(self.account.variable(settings[0]))
        if settings:
            listed = self.account.variables(settings)
            return f"{self.sync_type} calls send {listed}; check which is wrong"
        return self.account.in_own_names(known.text()) if known is not None else None


@dataclass
class CatalogResult:
    run_id: str
    phases: dict[str, PhaseReport]
    sync_seconds: float
    api_calls: int

    @property
    def status(self) -> str:
        statuses = {p.status for p in self.phases.values()}
        return "success" if statuses == {"success"} else "partial"


class CatalogSync:
    """Runs the three phases of one account for one run id against one client and one
    warehouse; the account's rows are the only ones it replaces."""

    def __init__(
        self,
        client: JshClient,
        warehouse: Warehouse,
        run_id: str,
        *,
        account: Account | str = DEFAULT_ACCOUNT,
        counties: Sequence[str],
        product_codes: Sequence[str] = (),
        product_chunk: int = PRODUCT_CHUNK,
        log: Log | None = None,
        targeted: bool = False,
    ) -> None:
        """``targeted``: a refresh of only these products and/or counties, which leaves every
        other row of the published tables as it is (a full sync drops rows it did not see).
        ``account``: its name, or the Account, whose variables a failure then names."""
        self.client = client
        self.warehouse = warehouse
        self.run_id = run_id
        self.settings = account if isinstance(account, Account) else Account(account)
        self.account = self.settings.name
        self.counties = list(dict.fromkeys(counties))
        self.product_codes = list(dict.fromkeys(product_codes))
        self.log = log or logging.getLogger(__name__)
        self.workers = client.max_workers  # as many calls in flight as the client has connections
        self.product_chunk = product_chunk
        self.targeted = targeted

    def run(self) -> CatalogResult:
        """Extract, stage, publish; if nothing loads, close the sync_log rows and raise.

        The run's claim is held throughout, so that if this process is killed the next run
        knows at once that these sync_log rows and staging files are orphans.
        """
        with self.warehouse.run_claim(self.run_id):
            return self._run()

    def _run(self) -> CatalogResult:
        phases = {
            "products": PhaseReport("products", PRODUCTS, account=self.settings),
            "prices": PhaseReport("prices", PRICES, account=self.settings),
            "stock": PhaseReport("stock", STOCK, account=self.settings),
        }
        log_ids = self.warehouse.start_syncs(self.run_id, list(phases), self.account)
        staging = Staging(
            self.warehouse.staging_path(self.run_id, self.account),
            [phase.table for phase in phases.values()],
        )
        started = time.monotonic()
        calls_before = self.client.stats.calls
        try:
            self._products(staging, phases["products"])
            procurable = staging.column("products", "product_code", "is_procurable")
            self._prices(staging, phases["prices"], procurable)
            self._stock(staging, phases["stock"], procurable)
            staging.close()
            outcomes = [self._outcome(log_ids[name], phase) for name, phase in phases.items()]
            if phases["products"].success == 0 and phases["products"].failed > 0:
                raise CatalogSyncFailed(phases["products"])
            counts = self.warehouse.publish_catalog(
                staging.path,
                [p.table for p in phases.values()],
                outcomes,
                self.account,
                keep_outside_scope=self.targeted,
            )
        except PublishError:
            # publish_catalog committed the catalog and closed the rows with their real
            # outcomes; only the copy to the analysts' file failed, and the next publish
            # shows them. Marking them "failed, tables unchanged" would be false.
            staging.discard()
            raise
        except BaseException as exc:
            staging.discard()  # first: on a full disk this frees the space to close the rows
            self._fail_open_rows(log_ids, phases, exc)
            raise
        staging.discard()
        for phase in phases.values():
            phase.rows = counts[phase.table.name]
        return CatalogResult(
            run_id=self.run_id,
            phases=phases,
            sync_seconds=time.monotonic() - started,
            api_calls=self.client.stats.calls - calls_before,
        )

    # -- phases -------------------------------------------------------------------------

    def _products(self, staging: Staging, report: PhaseReport) -> None:
        if not self.product_codes:
            self._discover_products(staging, report)
            return
        staging.append("scope_products", _keys(PRODUCTS, self.product_codes))

        def handle(batch: list[str], result: ParseResult[Any], at: datetime) -> None:
            records = _requested_only(result.records, batch)
            staging.append("products", product_rows(records, at))
            report.success += len(records)
            self._missing(staging, report, batch, records, result.rejected, at)
            self._keep_previous_rows(staging, result.rejected)

        batches = batched(self.product_codes, BATCH_SIZE)
        self._run_phase(report, staging, self.client.procurable_products, batches, handle)
        report.total = len(self.product_codes)

    def _discover_products(self, staging: Staging, report: PhaseReport) -> None:
        """Every procurable product, from one call whose answer is staged chunk by chunk.

        That answer is the whole catalog; staging each chunk as it is parsed keeps one chunk
        of records and rows alive rather than all of them (held whole, 100,000 products cost
        about 240 MB). A code repeated in a later chunk is still loaded once.
        """
        seen: set[str] = set()

        def discover(_: None) -> Any:
            # Returns an iterator of ParseResult chunks, which handle() consumes.
            return self.client.iter_procurable_products(self.product_chunk)

        def handle(_: None, chunks: Any, at: datetime) -> None:
            for result in chunks:
                fresh = _requested_only(result.records, None)
                records = [r for r in fresh if r.product_code not in seen]
                seen.update(r.product_code for r in records)
                staging.append("products", product_rows(records, at))
                staging.append("scope_products", _keys(PRODUCTS, [r.product_code for r in records]))
                report.total += len(records) + len(result.rejected)
                report.success += len(records)
                self._missing(staging, report, None, records, result.rejected, at)
                self._keep_previous_rows(staging, result.rejected)

        self._run_phase(report, staging, discover, [None], handle)

    def _prices(self, staging: Staging, report: PhaseReport, codes: list[str]) -> None:
        report.total = len(codes)
        staging.append("scope_prices", _keys(PRICES, codes))

        def handle(batch: list[str], result: ParseResult[Any], at: datetime) -> None:
            records = _requested_only(result.records, batch)
            rows, too_precise = price_rows(records, at)
            staging.append("prices", rows)
            report.success += rows.num_rows
            self._missing(staging, report, batch, records, [*result.rejected, *too_precise], at)

        self._run_phase(report, staging, self.client.prices, batched(codes, BATCH_SIZE), handle)

    def _stock(self, staging: Staging, report: PhaseReport, codes: list[str]) -> None:
        pairs = _diagonal(codes, self.counties)
        report.total = len(pairs)
        buffer: list[dict[str, Any]] = []

        def handle(pair: tuple[str, str], result: ParseResult[Any], at: datetime) -> None:
            if result.rejected:
                report.failed += 1
                report.malformed += 1
                staging.append(
                    "sync_rejects", reject_rows(self.run_id, "stock", result.rejected, at)
                )
                return
            buffer.append(stock_row(*pair, result.records, at))
            report.success += 1
            if len(buffer) >= FLUSH_ROWS:
                staging.append("stock", stock_rows(buffer))
                buffer.clear()

        for chunk in batched(pairs, FLUSH_ROWS):
            staging.append("scope_stock", _pair_keys(chunk))
        self._run_phase(report, staging, lambda pair: self.client.stock(*pair), pairs, handle)
        staging.append("stock", stock_rows(buffer))

    # -- shared machinery ---------------------------------------------------------------

    def _run_phase(
        self,
        report: PhaseReport,
        staging: Staging,
        call: Callable[[Any], ParseResult[Any]],
        items: Iterable[Any],
        handle: Callable[[Any, ParseResult[Any], datetime], None],
    ) -> None:
        """Call for every item, stopping early when the answer will not change
        (:data:`STOP_AFTER_REFUSALS` says when)."""
        work = list(items)
        keys_left = sum(len(_item_keys(item)) or 1 for item in work)
        progress = _Progress(report.sync_type, len(work), self.log)
        before = self.client.stats
        verdict = _Verdict()
        for item, result, error in call_all(call, work, self.workers):
            keys_left -= len(_item_keys(item)) or 1
            progress.step(self.client.stats.calls - before.calls)
            at = utcnow()
            if error is None:
                assert result is not None
                handle(item, result, at)
                verdict.succeeded()
                continue
            self._call_failed(report, staging, item, error, at)
            stop = verdict.stops(error)
            if stop is not None:
                report.refusal = stop
                if keys_left:
                    self._stop(report, keys_left, stop)
                    break
        report.refusal = report.refusal or verdict.all_alike()
        after = self.client.stats
        report.calls = after.calls - before.calls
        report.retries = after.retries - before.retries
        report.http_429 = after.http_429 - before.http_429
        report.seconds = progress.elapsed()
        self.log.info(
            "%s: %d ok, %d failed, %d calls in %.1f s (%.1f calls/s, %d retries, %d answered 429)",
            report.sync_type,
            report.success,
            report.failed,
            report.calls,
            report.seconds,
            report.calls_per_s,
            report.retries,
            report.http_429,
        )

    def _call_failed(
        self, report: PhaseReport, staging: Staging, item: Any, error: HaierError, at: datetime
    ) -> None:
        """Every key of a failed call is counted failed and kept in sync_rejects."""
        report.note_error(error)
        keys = _item_keys(item)
        report.failed += len(keys) or 1
        failures = [
            RejectedRecord(report.sync_type, key, f"call failed: {error}", "")
            for key in keys or [None]
        ]
        staging.append("sync_rejects", reject_rows(self.run_id, report.sync_type, failures, at))

    def _stop(self, report: PhaseReport, keys_left: int, error: HaierError) -> None:
        """The keys not tried count as failed and keep their previous rows (they are in scope)."""
        report.not_tried = keys_left
        report.failed += keys_left
        self.log.warning(
            "%s: stopped (%s); %d keys not tried keep their previous rows. %s",
            report.sync_type,
            short_reason(error),
            keys_left,
            report.problem(self.run_id),
        )

    def _missing(
        self,
        staging: Staging,
        report: PhaseReport,
        batch: list[str] | None,
        records: Sequence[Any],
        rejected: Sequence[RejectedRecord],
        at: datetime,
    ) -> None:
        """Count malformed records, and requested codes Haier did not answer for, as failed.

        A malformed record that lost its code answers one of the silent codes of its batch,
        so each failed code is counted once, though both rejects are kept for the analyst.
        """
        answered = {r.product_code for r in records} | {r.key for r in rejected}
        silent = [
            RejectedRecord(report.sync_type, code, "Haier returned no usable record for it", "")
            for code in (batch or [])
            if code not in answered
        ]
        keyless = sum(1 for r in rejected if r.key is None)
        report.failed += len(rejected) + max(0, len(silent) - keyless)
        report.malformed += len(rejected)
        self._reject(staging, report.sync_type, [*rejected, *silent], at)

    def _keep_previous_rows(self, staging: Staging, rejected: Sequence[RejectedRecord]) -> None:
        """A product whose record came back broken keeps yesterday's product, price and stock
        rows (with their older synced_at), as a product whose call failed does."""
        codes = [r.key for r in rejected if r.key is not None]
        if codes:
            staging.append("scope_products", _keys(PRODUCTS, codes))
            staging.append("scope_prices", _keys(PRICES, codes))
            staging.append("scope_stock", _pair_keys(list(cross(codes, self.counties))))

    def _reject(
        self, staging: Staging, sync_type: str, records: Sequence[RejectedRecord], at: datetime
    ) -> None:
        staging.append("sync_rejects", reject_rows(self.run_id, sync_type, records, at))

    def _outcome(self, log_id: int, phase: PhaseReport) -> SyncOutcome:
        return SyncOutcome(
            log_id=log_id,
            status=phase.status,
            total_count=phase.total,
            success_count=phase.success,
            failed_count=phase.failed,
            api_calls=phase.calls,
            message=phase.message(self.run_id),
        )

    def _fail_open_rows(
        self, log_ids: dict[str, int], phases: dict[str, PhaseReport], exc: BaseException
    ) -> None:
        reason = f"sync failed, tables unchanged: {type(exc).__name__}: {exc}"
        for name, log_id in log_ids.items():
            phase = phases[name]
            outcome = SyncOutcome(
                log_id, "failed", phase.total, 0, phase.total, phase.calls, reason[:2000]
            )
            try:
                self.warehouse.finish_sync(outcome)
            except Exception:  # the original error matters more; the next run closes the row
                self.log.warning("could not close sync_log row %d", log_id)


class CatalogSyncFailed(RuntimeError):
    """No product could be loaded at all; the tables were left as they were."""

    def __init__(self, phase: PhaseReport) -> None:
        # Nothing of the run is published, sync_rejects included: do not point there.
        if phase.needs_person:
            super().__init__(phase.problem("", rejects_published=False))
        else:
            super().__init__(phase.message("", rejects_published=False))
        self.phase = phase


class _Verdict:
    """What a phase's failures so far say about the calls still to make."""

    def __init__(self) -> None:
        self._succeeded = False
        self._counts: dict[str, int] = {}
        self._first: dict[str, HaierError] = {}

    def succeeded(self) -> None:
        self._succeeded = True
        self._counts.clear()  # only refusals in a row mean the answer will not change

    def stops(self, error: HaierError) -> HaierError | None:
        """The error that stops the phase, if this failure completes one."""
        if isinstance(error, HaierUnreachableError):
            return error
        if isinstance(error, HaierBusinessError):
            if self._succeeded:
                return None  # the calls work: identical refusals are about records
        elif remedy(error) is None:
            return None  # transient, or nothing a person can fix
        key = refusal_key(error)
        self._first.setdefault(key, error)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._first[key] if self._counts[key] >= STOP_AFTER_REFUSALS else None

    def all_alike(self) -> HaierError | None:
        """For a phase too short to stop: its one refusal, if nothing succeeded and every
        refusal was that one."""
        if self._succeeded or len(self._counts) != 1:
            return None
        [key] = self._counts
        return self._first[key]


class _Progress:
    """Logs a long phase as it goes: done / total, calls/s and an ETA, about every 10 %
    of its items or every 30 s, whichever comes first, so a run page visibly moves."""

    def __init__(self, name: str, total: int, log: Log) -> None:
        self.name = name
        self.total = total
        self.log = log
        self.done = 0
        self.started = time.monotonic()
        self._next_at = self.started + PROGRESS_EVERY_S
        self._every = max(1, total // PROGRESS_STEPS)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, calls: int) -> None:
        self.done += 1
        now = time.monotonic()
        if self.done == self.total or (self.done % self._every and now < self._next_at):
            return
        self._next_at = now + PROGRESS_EVERY_S
        elapsed = now - self.started
        rate = calls / elapsed if elapsed > 0 else 0.0
        eta = elapsed / self.done * (self.total - self.done)
        self.log.info(
            "%s: %d / %d done (%d %%), %.1f calls/s, about %.0f s left",
            self.name,
            self.done,
            self.total,
            100 * self.done // self.total,
            rate,
            eta,
        )


def _requested_only(records: Sequence[Any], batch: list[str] | None) -> list[Any]:
    """Drop records Haier sent for codes we did not ask for, and repeats: no code loaded twice."""
    wanted = set(batch) if batch is not None else None
    seen: set[str] = set()
    kept = []
    for record in records:
        code = record.product_code
        if code in seen or (wanted is not None and code not in wanted):
            continue
        seen.add(code)
        kept.append(record)
    return kept


def _diagonal(codes: Sequence[str], counties: Sequence[str]) -> list[tuple[str, str]]:
    """Every (product, county) pair, ordered so that calls in a row differ in product and
    county: the first calls of the stock phase then tell a refusal of the calls (a wrong
    seller password) from one product, or one county, that Haier does not serve."""
    if not codes or not counties:
        return []
    step = len(codes)
    return [
        (codes[(start + offset) % step], county)
        for start in range(step)
        for offset, county in enumerate(counties)
    ]


def _item_keys(item: Any) -> list[str | None]:
    if isinstance(item, tuple):
        return [f"{item[0]}@{item[1]}"]
    return list(item) if item else []


def _keys(table: Table, codes: Sequence[str]) -> pa.Table:
    return pa.table({table.local_key[0]: pa.array(list(codes), pa.string())})


def _pair_keys(pairs: Sequence[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {
            "product_code": pa.array([p for p, _ in pairs], pa.string()),
            "county_code": pa.array([c for _, c in pairs], pa.string()),
        }
    )
