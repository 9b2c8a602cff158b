"""balance_snapshot without Dagster: append the payer balances, and judge whether they suffice.

Haier debits the payer account when it confirms an order, so a balance below what is already
pushed and waiting for confirmation means orders will be refused for lack of funds. Snapshots
are appended, never replaced: the history is what shows an analyst when money ran short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.warehouse import SyncOutcome, Warehouse, utcnow

SYNC_TYPE = "balance"


@dataclass(frozen=True)
class BalanceSnapshot:
    fetched_at: datetime
    balances: dict[str, Decimal]  # sale_group_code -> balance
    malformed: int
    api_calls: int


def snapshot_balance(
    jsh: JshClient, warehouse: Warehouse, run_id: str, account: str = DEFAULT_ACCOUNT
) -> BalanceSnapshot:
    """One balance call of the account, appended to account_balance with one sync_log row of
    type balance."""
    log_id = warehouse.start_sync(run_id, SYNC_TYPE, account)
    calls_before = jsh.stats.calls
    try:
        result = jsh.balance()
        fetched_at = utcnow()
        rows = [
            {
                "sale_group_code": record.sale_group_code,
                "fetched_at": fetched_at,
                "sale_group_name": record.sale_group_name,
                "payer_account_code": record.payer_account_code,
                "payer_account_name": record.payer_account_name,
                "balance": record.balance,
            }
            for record in result.records
        ]
        with warehouse.transaction(publish=False) as con:
            db.append_balances(con, rows, account)
            for reject in result.rejected:
                db.add_reject(
                    con,
                    run_id,
                    SYNC_TYPE,
                    reject.key or "",
                    reject.reason,
                    reject.raw,
                    fetched_at,
                    account,
                )
    except BaseException as error:
        message = f"stopped by {type(error).__name__}: {error}"
        calls = jsh.stats.calls - calls_before
        warehouse.finish_sync(SyncOutcome(log_id, "failed", 0, 0, 0, calls, message))
        raise
    snapshot = BalanceSnapshot(
        fetched_at,
        {record.sale_group_code: record.balance for record in result.records},
        len(result.rejected),
        jsh.stats.calls - calls_before,
    )
    warehouse.finish_sync(_outcome(log_id, snapshot))
    return snapshot


def _outcome(log_id: int, snapshot: BalanceSnapshot) -> SyncOutcome:
    loaded, malformed = len(snapshot.balances), snapshot.malformed
    status = "success" if not malformed else ("failed" if not loaded else "partial")
    message = f"{loaded} sale group balances recorded"
    if malformed:
        message += f"; {malformed} malformed, see sync_rejects"
    return SyncOutcome(
        log_id, status, loaded + malformed, loaded, malformed, snapshot.api_calls, message
    )


def balance_problems(
    latest: Mapping[str, Decimal], minimum: Decimal, unconfirmed: Decimal
) -> list[str]:
    """Why the latest balances do not suffice; empty when they do.

    The minimum applies to each sale group (each is debited on its own); what pushed orders
    still owe is compared with the total, since an order names no sale group.
    """
    if not latest:
        return ["no balance snapshot yet; run balance_snapshot"]
    problems = [
        f"sale group {group}: balance {balance} is below HAIER_BALANCE_MIN {minimum}"
        for group, balance in sorted(latest.items())
        if balance < minimum
    ]
    total = sum(latest.values(), Decimal(0))
    if total < unconfirmed:
        problems.append(
            f"total balance {total} is below {unconfirmed}, the total_amt of orders pushed "
            "and not yet confirmed"
        )
    return problems
