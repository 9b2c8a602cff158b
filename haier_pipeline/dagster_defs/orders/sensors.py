"""Sensors: new order files launch push_orders, new callbacks launch apply_callbacks.

Order inbox: the cursor maps each file name still in the inbox to the sha256 of the content
already handed to a run, so a file is requested once per content: a file a shop rewrites under
the same name is new again, a file that stays (a failed order) is not requested again (the
push_orders schedule retries it). Run keys are a digest of the (name, sha256) pairs, so a tick
evaluated twice (the daemon restarted before storing the cursor) cannot launch a second run.

Callback spool: every pending file is requested, oldest first, with the file names as the run
key; Dagster launches a run key once, so a tick repeats nothing, and a new callback makes a
new set that also retries whatever an earlier failed run left pending. apply_callbacks skips
files an earlier run already moved to done/.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from haier_pipeline.batching import batched
from haier_pipeline.callbacks.spool import PENDING
from haier_pipeline.dagster_defs.orders.jobs import apply_callbacks, push_orders
from haier_pipeline.dagster_defs.orders.ops import ApplyCallbacksConfig, PushOrdersConfig
from haier_pipeline.dagster_defs.resources import CallbackSpoolResource, OrderInboxResource
from haier_pipeline.orders.inbox import file_fingerprint, pending_files
from haier_pipeline.orders.pusher import MAX_FILES_PER_RUN

MAX_CALLBACKS_PER_RUN = 200
"""A burst of callbacks is split over runs of this size, so one bad batch does not hold all."""


@sensor(
    job=push_orders,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches push_orders for order files that are new in HAIER_ORDER_INBOX.",
)
def order_inbox_sensor(
    context: SensorEvaluationContext, order_inbox: OrderInboxResource
) -> SensorResult | SkipReason:
    inbox = order_inbox.inbox()
    if not inbox.is_dir():
        return SkipReason(f"order inbox {inbox} does not exist yet")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = _fingerprints(pending_files(inbox))
    new = sorted((name, digest) for name, digest in current.items() if seen.get(name) != digest)
    cursor = json.dumps(current, sort_keys=True)
    if not new:
        return SensorResult(skip_reason=f"no new order files in {inbox}", cursor=cursor)
    requests = [
        RunRequest(
            run_key=_digest(f"{name}:{digest}" for name, digest in batch),
            run_config=RunConfig(
                ops={"push_pending_orders": PushOrdersConfig(files=[name for name, _ in batch])}
            ),
            tags={"haier/order_files": str(len(batch))},
        )
        for batch in batched(new, MAX_FILES_PER_RUN)  # what one push_orders run takes
    ]
    return SensorResult(run_requests=requests, cursor=cursor)


@sensor(
    job=apply_callbacks,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches apply_callbacks when the receiver has spooled callbacks.",
)
def callback_spool_sensor(
    context: SensorEvaluationContext, callback_spool: CallbackSpoolResource
) -> SensorResult | SkipReason:
    pending_dir = callback_spool.spool() / PENDING
    names = sorted(path.name for path in pending_dir.glob("*.json")) if pending_dir.is_dir() else []
    if not names:
        return SkipReason(f"no pending callbacks in {pending_dir}")
    requests = [
        RunRequest(
            run_key=_names_key(batch),
            run_config=RunConfig(
                ops={"apply_spooled_callbacks": ApplyCallbacksConfig(files=list(batch))}
            ),
            tags={"haier/callback_files": str(len(batch))},
        )
        for batch in batched(names, MAX_CALLBACKS_PER_RUN)
    ]
    return SensorResult(run_requests=requests)


def _fingerprints(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 per file; a file archived while we read it has simply left the inbox."""
    prints = {}
    for path in paths:
        try:
            prints[path.name] = file_fingerprint(path)
        except FileNotFoundError:
            continue
    return prints


def _digest(parts: Iterable[str]) -> str:
    text = "\n".join(parts)
    return "orders-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _names_key(names: Sequence[str]) -> str:
    """The file names themselves, shortened to first..last plus a digest for a long batch."""
    if len(names) <= 3:
        return ",".join(names)
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return f"{names[0]}..{names[-1]} ({len(names)} files, {digest})"


ORDER_SENSORS = [order_inbox_sensor, callback_spool_sensor]
