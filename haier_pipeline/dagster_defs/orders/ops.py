"""The order ops: each wires resources into the Dagster-free work of ``haier_pipeline.orders``,
turns the outcome into what the UI shows, and fails the run when something needs a person.
"""

import contextlib
from collections.abc import Iterator, Sequence

from dagster import (
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    op,
)
from pydantic import Field

from haier_pipeline.accounts import Account
from haier_pipeline.dagster_defs.failures import user_errors
from haier_pipeline.dagster_defs.resources import (
    AccountsResource,
    CallbackSpoolResource,
    HaierApiResource,
    OrderInboxResource,
    WarehouseResource,
    YlhResource,
)
from haier_pipeline.haier.errors import HaierBusinessError
from haier_pipeline.listing import few
from haier_pipeline.orders.apply_callbacks import CallbackApplier
from haier_pipeline.orders.changes import OrderChangeError, cancel_order, reschedule_order
from haier_pipeline.orders.model import OrderDefaults
from haier_pipeline.orders.photos import PhotoReport, collect_photos, fetch_photos
from haier_pipeline.orders.pusher import AccountLink, OrderOutcome, OrderPusher
from haier_pipeline.orders.tracking import LogisticsTracker, TrackingReport
from haier_pipeline.storage import orders as db
from haier_pipeline.storage.schema import DELIVERY_PHOTOS, LOGISTICS_EVENTS, ORDERS

ORDERS_POOL = "haier_orders"
"""push_orders and apply_callbacks write orders; dagster_home/dagster.yaml limits pools to 1."""
OUTCOMES_SHOWN = 100  # rows of the per-order table in a push_orders run's metadata


class PushOrdersConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Order file names in the inbox to handle; empty: every file still there.",
    )


@op(pool=ORDERS_POOL, out={})
def push_pending_orders(
    context: OpExecutionContext,
    config: PushOrdersConfig,
    haier: HaierApiResource,
    ylh: YlhResource,
    haier_accounts: AccountsResource,
    duckdb_warehouse: WarehouseResource,
    order_inbox: OrderInboxResource,
) -> Iterator[AssetMaterialization]:
    """Validate, confirm stock, push once by soId, record, then archive each order file,
    every account's files in one run, each with its own account's catalog and clients."""
    with (
        user_errors("push_orders"),
        duckdb_warehouse.for_run(context, "push_orders") as warehouse,
        contextlib.ExitStack() as clients,
    ):
        links = [
            _account_link(clients, account, haier, ylh) for account in haier_accounts.accounts()
        ]
        for link in links:
            if link.problem is not None:
                context.log.warning(
                    f"account {link.name} cannot reach Haier this run ({link.problem}); "
                    "its orders fail and stay in the inbox"
                )
        pusher = OrderPusher(links, warehouse, order_inbox.inbox(), context.log)
        report = pusher.run(context.run.run_id, config.files)
    counts = {status: report.count(status) for status in (db.PUSHED, db.REJECTED, db.FAILED)}
    yield AssetMaterialization(
        ORDERS.name,
        description=report.message(),
        metadata={
            **{f"orders_{status}": count for status, count in counts.items()},
            "orders_waiting": len(report.waiting),
            "waiting_files": MetadataValue.text(few(report.waiting, OUTCOMES_SHOWN)),
            "files_left_for_next_run": report.left_over,
            "api_calls": report.api_calls,
            "outcomes": MetadataValue.md(_outcome_table(report.outcomes)),
        },
    )
    if counts[db.FAILED]:
        raise Failure(
            description=f"{report.message()}. See last_error in orders for each failed soId.",
            allow_retries=False,
        )


def _account_link(
    clients: contextlib.ExitStack, account: Account, haier: HaierApiResource, ylh: YlhResource
) -> AccountLink:
    """The account's clients and defaults, or, when a setting of its own is missing or
    unusable, why not: that fails its orders only, never another account's."""
    try:
        defaults = ylh.order_defaults(haier, account)
        jsh = clients.enter_context(haier.client(account))
        ylh_client = clients.enter_context(ylh.client(account))
    except Failure as problem:
        return AccountLink(
            account.name, OrderDefaults(None, None, None), problem=str(problem.description)
        )
    return AccountLink(account.name, defaults, jsh, ylh_client)


def _outcome_table(outcomes: Sequence[OrderOutcome]) -> str:
    """Failed and rejected orders first: they are the ones someone has to act on."""
    shown = sorted(outcomes, key=lambda outcome: outcome.status == db.PUSHED)[:OUTCOMES_SHOWN]
    lines = ["| file | soId | status | retailOrderNo or reason |", "|---|---|---|---|"]
    for outcome in shown:
        detail = outcome.detail.replace("\n", " ").replace("|", "\\|")
        lines.append(
            f"| {outcome.source_file} | {outcome.so_id or ''} | {outcome.status} | {detail} |"
        )
    if len(outcomes) > len(shown):
        lines.append(f"\n{len(outcomes) - len(shown)} more; the orders table has them all.")
    return "\n".join(lines)


@op(out={})
def refresh_logistics(
    context: OpExecutionContext,
    haier: HaierApiResource,
    ylh: YlhResource,
    haier_accounts: AccountsResource,
    duckdb_warehouse: WarehouseResource,
) -> Iterator[AssetMaterialization]:
    """New logistics events of every pushed or confirmed order not yet delivered, each
    account's orders with its own clients; then photos of the newly delivered ones."""
    tracked: dict[str, TrackingReport] = {}
    photos: dict[str, PhotoReport] = {}
    unreachable: dict[str, str] = {}
    with (
        user_errors("track_logistics"),
        duckdb_warehouse.for_run(context, "track_logistics") as warehouse,
        contextlib.ExitStack() as clients,
    ):
        for account in haier_accounts.accounts():
            link = _account_link(clients, account, haier, ylh)
            if link.jsh is None or link.ylh is None:
                unreachable[link.name] = str(link.problem)
                continue
            tracker = LogisticsTracker(
                link.jsh,
                link.ylh,
                warehouse,
                link.defaults.seller_code or "",
                context.log,
                max_workers=haier.max_workers,
                account=link.name,
            )
            tracked[link.name] = tracker.run(context.run.run_id)
            photos[link.name] = collect_photos(link.ylh, warehouse, context.log, link.name)
    photo_message = _per_account({name: report.message() for name, report in photos.items()})
    if any(report.orders for report in photos.values()):
        context.log.info(photo_message)
        yield AssetMaterialization(
            DELIVERY_PHOTOS.name,
            description=photo_message,
            metadata={
                "orders": sum(report.orders for report in photos.values()),
                "new_photos": sum(report.new_photos for report in photos.values()),
                "rejected_urls": sum(report.rejected_urls for report in photos.values()),
            },
        )
    message = _per_account({name: report.message() for name, report in tracked.items()})
    yield AssetMaterialization(
        LOGISTICS_EVENTS.name,
        description=message,
        metadata={
            name: sum(getattr(report, field) for report in tracked.values())
            for name, field in (
                ("orders_tracked", "orders"),
                ("orders_refreshed", "refreshed"),
                ("new_events", "new_events"),
                ("malformed_events", "malformed_events"),
                ("api_calls", "api_calls"),
            )
        },
    )
    stuck = {name: r.message() for name, r in tracked.items() if r.orders and not r.refreshed}
    if stuck or unreachable:
        reasons = _per_account({**stuck, **unreachable})
        raise Failure(description=f"no order's logistics could be refreshed: {reasons}")


def _per_account(messages: dict[str, str]) -> str:
    """One account's message as it is; several, each after its account's name."""
    if len(messages) == 1:
        return next(iter(messages.values()))
    return "; ".join(f"{name}: {message}" for name, message in messages.items())


ACCOUNT_FIELD = Field(
    default="",
    description="The order's account (a name in HAIER_ACCOUNTS_FILE); empty: the only account.",
)


class FetchPhotosConfig(Config):
    retail_order_no: str = Field(description="YLH's order number, e.g. SO.20250430.000001.")
    account: str = ACCOUNT_FIELD


@op(out={})
def fetch_order_photos(
    context: OpExecutionContext,
    config: FetchPhotosConfig,
    ylh: YlhResource,
    haier_accounts: AccountsResource,
    duckdb_warehouse: WarehouseResource,
) -> Iterator[AssetMaterialization]:
    """One order's delivery and installation photos (YLH 3.4) into delivery_photos."""
    number = config.retail_order_no.strip()
    if not number:
        raise Failure(
            description="run config retail_order_no is empty; give YLH's order "
            "number, e.g. SO.20250430.000001",
            allow_retries=False,
        )
    warehouse = duckdb_warehouse.warehouse(owner=f"run {context.run.run_id} (photos)")
    account = haier_accounts.chosen(config.account)
    with user_errors(f"photos of {number}"), ylh.client(account) as client:
        fetched = fetch_photos(client, warehouse, number, account.name)
    [(stored,)] = warehouse.read(
        f"SELECT count(*) FROM {DELIVERY_PHOTOS.name} WHERE account = ? AND retail_order_no = ?",
        [account.name, number],
    )
    refused = f", {fetched.rejected} URL(s) refused" if fetched.rejected else ""
    context.log.info(f"{number}: {fetched.new} new photo(s), {stored} stored{refused}")
    yield AssetMaterialization(
        DELIVERY_PHOTOS.name,
        description=f"{number}: {fetched.new} new photo(s){refused}",
        metadata={
            "retail_order_no": number,
            "new_photos": fetched.new,
            "rejected_urls": fetched.rejected,
            "photos_of_order": stored,
        },
    )


class ApplyCallbacksConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Spool file names (in pending/) to apply; empty: every pending callback.",
    )


@op(pool=ORDERS_POOL, out={})
def apply_spooled_callbacks(
    context: OpExecutionContext,
    config: ApplyCallbacksConfig,
    duckdb_warehouse: WarehouseResource,
    callback_spool: CallbackSpoolResource,
) -> Iterator[AssetMaterialization]:
    """Haier's confirm, cancel and out-of-stock callbacks, applied to orders."""
    warehouse = duckdb_warehouse.warehouse(owner=f"run {context.run.run_id} (apply_callbacks)")
    report = CallbackApplier(warehouse, callback_spool.spool(), context.log).run(config.files)
    context.log.info(report.message())
    if report.applied:
        yield AssetMaterialization(
            ORDERS.name,
            description=report.message(),
            metadata={
                "callbacks_applied": len(report.applied),
                "callbacks_unknown_order": len(report.unknown),
            },
        )


class CancelOrderConfig(Config):
    so_id: str = Field(description="The shop's sub-order number (soId) of a pushed order.")
    reason: str = Field(description="Why the order is cancelled; sent to YLH as cancelReason.")
    account: str = ACCOUNT_FIELD


@op
def cancel_pushed_order(
    context: OpExecutionContext,
    config: CancelOrderConfig,
    haier: HaierApiResource,
    ylh: YlhResource,
    haier_accounts: AccountsResource,
    duckdb_warehouse: WarehouseResource,
) -> None:
    """Ask YLH to cancel; Haier's cancel callback then marks the order cancelled."""
    warehouse = duckdb_warehouse.warehouse(owner=f"run {context.run.run_id} (cancel_order)")
    account = haier_accounts.chosen(config.account)
    source_system = ylh.order_defaults(haier, account).source_system
    if not source_system:
        raise Failure(
            description=f"account {account.name} has no sourceSystem to cancel with: set "
            "HAIER_SOURCE_SYSTEM (or source_system in its accounts-file table).",
            allow_retries=False,
        )
    with ylh.client(account) as client, _refusals_as_failures():
        number = cancel_order(
            client, warehouse, config.so_id, config.reason, source_system, account.name
        )
    context.log.info(
        f"cancellation of soId {config.so_id.strip()} ({number}) accepted by YLH; the order "
        "becomes cancelled when Haier's cancel callback arrives"
    )


class RescheduleOrderConfig(Config):
    retail_order_no: str = Field(description="YLH's order number, e.g. SO.20250430.000001.")
    distribution_date: str = Field(
        default="",
        description="New delivery day, e.g. 2025-05-03 (sent as 23:59:59 Beijing time); "
        "empty: unchanged.",
    )
    install_date: str = Field(
        default="", description="New installation day, same format; empty: unchanged."
    )
    account: str = ACCOUNT_FIELD


@op
def reschedule_delivery(
    context: OpExecutionContext,
    config: RescheduleOrderConfig,
    ylh: YlhResource,
    haier_accounts: AccountsResource,
) -> None:
    """Move delivery and/or installation to another day (YLH 3.3), with the account's login."""
    account = haier_accounts.chosen(config.account)
    with ylh.client(account) as client, _refusals_as_failures():
        distribution, install = reschedule_order(
            client, config.retail_order_no, config.distribution_date, config.install_date
        )
    moved = [
        f"{name} {moment.isoformat()}"
        for name, moment in (("delivery", distribution), ("installation", install))
        if moment is not None
    ]
    context.log.info(f"{config.retail_order_no.strip()}: {' and '.join(moved)} accepted by YLH")


@contextlib.contextmanager
def _refusals_as_failures() -> Iterator[None]:
    """A refused change is the user's to fix: one clear line, no traceback, no retry."""
    try:
        yield
    except OrderChangeError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    except HaierBusinessError as refusal:
        raise Failure(
            description=f"YLH refused ({refusal.code}): {refusal.message}", allow_retries=False
        ) from None
