"""apply_callbacks without Dagster: Haier's verdicts from the callback spool into ``orders``.

The receiver has already checked each callback's signature and spooled it with the account
whose AppKey and secret verified it; here every pending callback sets that account's orders'
status (storage.orders.apply_callback has the rules) and is then
moved to ``done/``. A batch is committed before any of its files is moved, so a crash in
between only applies the batch again, which the status rules make harmless. A callback for
an order we do not know is logged, counted and moved to ``done/`` all the same: keeping it
pending would only repeat the warning on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from haier_pipeline.callbacks import spool
from haier_pipeline.runlog import Log
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.warehouse import Warehouse, utcnow

LOCK_NAME = ".apply_callbacks.lock"
BATCH = 500  # callbacks per transaction
DEFAULT_LOCK_TIMEOUT_S = 600.0


@dataclass
class CallbackReport:
    """File names by what became of them in this run."""

    applied: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)

    def message(self) -> str:
        return (
            f"{len(self.applied)} callbacks applied, {len(self.unknown)} for unknown orders, "
            f"{len(self.already_done)} already applied by an earlier run"
        )


class CallbackApplier:
    """Drains one callback spool into one warehouse; one applier runs at a time."""

    def __init__(
        self,
        warehouse: Warehouse,
        spool_dir: Path,
        log: Log,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self.warehouse = warehouse
        self.spool_dir = spool_dir
        self.log = log
        self.lock_timeout_s = lock_timeout_s

    def run(self, files: Sequence[str] = ()) -> CallbackReport:
        """Apply ``files`` (spool file names), or every pending callback when none are named."""
        spool.ensure_layout(self.spool_dir)
        lock = filelock.FileLock(str(self.spool_dir / LOCK_NAME))
        try:
            lock.acquire(timeout=self.lock_timeout_s)
        except filelock.Timeout:
            raise RuntimeError(
                f"another apply_callbacks run has held the spool {self.spool_dir} for "
                f"{self.lock_timeout_s:.0f} s; let it finish and launch this run again"
            ) from None
        try:
            return self._run_locked(files)
        finally:
            lock.release()

    def _run_locked(self, files: Sequence[str]) -> CallbackReport:
        report = CallbackReport()
        callbacks = spool.pending(self.spool_dir)
        if files:
            wanted = set(files)
            report.already_done = sorted(wanted - {cb.path.name for cb in callbacks})
            callbacks = [cb for cb in callbacks if cb.path.name in wanted]
        for start in range(0, len(callbacks), BATCH):
            self._apply(callbacks[start : start + BATCH], report)
        return report

    def _apply(self, batch: Sequence[spool.SpooledCallback], report: CallbackReport) -> None:
        unknown = []
        with self.warehouse.transaction() as con:
            for callback in batch:
                so_ids = db.orders_for_platform_order_no(
                    con, callback.platform_order_no, callback.account
                )
                if not so_ids:
                    unknown.append(callback)
                    continue
                db.apply_callback(
                    con,
                    so_ids,
                    callback.method,
                    callback.state,
                    callback.ext_order_no,
                    callback.fail_msg,
                    utcnow(),
                    account=callback.account,
                )
                self.log.info(
                    f"{callback.method} State {callback.state} for {callback.platform_order_no} "
                    f"applied to soId {', '.join(so_ids)} of account {callback.account}"
                )
        for callback in unknown:
            self.log.warning(
                f"{callback.method} for PlatformOrderNo {callback.platform_order_no!r} matches "
                f"no soId or onlineNo of account {callback.account} in orders; kept in "
                f"{spool.DONE}/{callback.path.name}"
            )
        unknown_names = {callback.path.name for callback in unknown}
        for callback in batch:
            spool.mark_done(callback)
            name = callback.path.name
            (report.unknown if name in unknown_names else report.applied).append(name)
