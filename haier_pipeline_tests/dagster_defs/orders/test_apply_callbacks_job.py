"""Callbacks from the sandbox, through the receiver and the spool, applied by apply_callbacks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import orders, push_valid_orders

pytestmark = pytest.mark.usefixtures("seeded_catalog")

CONFIRM = "hmm.scm_heorder.confirm"
CANCEL = "hmm.scm_heorder.cancel"
OOSTOCK = "hmm.scm_heorder.oostock"


@pytest.fixture
def receiver(pipeline: Pipeline) -> Iterator[CallbackReceiver]:
    account = pipeline.sandbox.account
    spool = Path(os.environ["HAIER_CALLBACK_SPOOL"])
    with CallbackReceiver(
        spool, AccountKey(account.callback_app_key, account.callback_secret)
    ) as running:
        yield running


def _send(pipeline: Pipeline, receiver: CallbackReceiver, *args: object, **kwargs: object) -> int:
    return pipeline.sandbox.send_callback(receiver.url, *args, **kwargs).status_code


def _spooled(receiver: CallbackReceiver, folder: str) -> int:
    return len(list((receiver.spool_dir / folder).glob("*.json")))


def test_a_wrongly_signed_callback_changes_nothing_and_a_signed_one_updates_the_order(
    pipeline: Pipeline, receiver: CallbackReceiver
) -> None:
    [so_id] = push_valid_orders(pipeline, 1)
    before = orders(pipeline)[so_id]

    assert _send(pipeline, receiver, CONFIRM, so_id, 1, ext_order_no="EXT-1", sign="bad") == 401
    assert _send(pipeline, receiver, CONFIRM, so_id, 1, sign="missing") == 401
    assert pipeline.run("apply_callbacks").success
    assert orders(pipeline)[so_id] == before
    assert _spooled(receiver, "pending") + _spooled(receiver, "done") == 0

    assert _send(pipeline, receiver, CONFIRM, so_id, 1, ext_order_no="EXT-1") == 200
    assert pipeline.run("apply_callbacks").success
    row = orders(pipeline)[so_id]
    assert (row["status"], row["ext_order_no"]) == ("confirmed", "EXT-1")
    assert (_spooled(receiver, "pending"), _spooled(receiver, "done")) == (0, 1)


def test_each_method_sets_its_status_and_applying_twice_changes_nothing(
    pipeline: Pipeline, receiver: CallbackReceiver
) -> None:
    refused, cancelled, short, cancel_failed = push_valid_orders(pipeline, 4)
    _send(pipeline, receiver, CONFIRM, refused, 0, fail_msg="地址无法配送")
    _send(pipeline, receiver, CONFIRM, cancelled, 1, ext_order_no="EXT-C")
    _send(pipeline, receiver, CANCEL, cancelled, 1)
    _send(pipeline, receiver, CONFIRM, cancelled, 1)  # late: a cancelled order stays cancelled
    _send(pipeline, receiver, OOSTOCK, f"ONLINE-{short}", 0, fail_msg="库存不足")
    _send(pipeline, receiver, CANCEL, cancel_failed, 0, fail_msg="已出库")

    assert pipeline.run("apply_callbacks").success
    rows = orders(pipeline)
    assert (rows[refused]["status"], rows[refused]["last_error"]) == (
        "rejected",
        "Haier refused the order: 地址无法配送",
    )
    assert (rows[cancelled]["status"], rows[cancelled]["ext_order_no"]) == ("cancelled", "EXT-C")
    assert rows[short]["status"] == "out_of_stock"  # matched by onlineNo
    assert "库存不足" in rows[short]["last_error"]
    assert rows[cancel_failed]["status"] == "pushed"
    assert rows[cancel_failed]["last_error"] == "Haier could not cancel the order: 已出库"

    for path in (receiver.spool_dir / "done").glob("*.json"):
        path.rename(receiver.spool_dir / "pending" / path.name)  # as if mark_done never ran
    assert pipeline.run("apply_callbacks").success
    assert orders(pipeline) == rows


def test_a_callback_for_an_unknown_order_is_kept_in_done_with_a_warning(
    pipeline: Pipeline, receiver: CallbackReceiver
) -> None:
    push_valid_orders(pipeline, 1)
    before = orders(pipeline)
    assert _send(pipeline, receiver, CONFIRM, "NOT-OURS-1", 1, ext_order_no="EXT-X") == 200

    result = pipeline.run("apply_callbacks")
    assert result.success
    assert orders(pipeline) == before
    assert (_spooled(receiver, "pending"), _spooled(receiver, "done")) == (0, 1)
    warnings = [
        record.user_message
        for record in pipeline.instance.all_logs(result.run_id)
        if record.level >= 30
    ]
    assert any("NOT-OURS-1" in message and "matches no soId" in message for message in warnings)
