"""push_orders through Dagster against the sandbox over real HTTP, into a real DuckDB file."""

from __future__ import annotations

import json

import pytest

from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders import OrderDefaults, parse_order
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline_tests.conftest import PIPELINE_RATE_LIMIT, Pipeline
from haier_pipeline_tests.dagster_defs.order_helpers import (
    COUNTY,
    PRICE,
    amount,
    drop_order,
    inbox,
    orders,
    processed,
    stock_of,
    stocked_codes,
    unstocked_code,
)
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

pytestmark = pytest.mark.usefixtures("seeded_catalog")

INVALID = {
    "BAD-CODE": "ZZZZZZZZ9 is not in the synced catalog",
    "BAD-TOTAL": "totalAmt: 1.00 differs from the sum of actualPrice × itemQty",
    "BAD-COUNTY": "countyCode: '11010' is malformed",
    "BAD-NAME": "consigneeName: is missing",
}


def _drop_twenty(pipeline: Pipeline) -> tuple[list[str], str]:
    """14 valid orders (two with two lines), 4 invalid ones, 1 without stock, 1 unreadable."""
    sandbox = pipeline.sandbox
    codes = stocked_codes(sandbox, 16)
    valid = [f"SO-{i:03d}" for i in range(14)]
    for so_id, code in zip(valid[:12], codes, strict=False):
        drop_order(so_id, code)
    for so_id, (first, second) in zip(valid[12:], [codes[12:14], codes[14:16]], strict=True):
        items = ((first, 1, PRICE), (second, 2, "10.50"))
        write_order_file(inbox(), make_order_dict(so_id, items))
    drop_order("BAD-CODE", "ZZZZZZZZ9")
    drop_order("BAD-TOTAL", codes[0], totalAmt="1.00")
    drop_order("BAD-COUNTY", codes[0], countyCode="11010")
    broken = make_order_dict("BAD-NAME", ((codes[0], 1, PRICE),))
    del broken["consigneeName"]
    write_order_file(inbox(), broken)
    no_stock = unstocked_code(sandbox)
    drop_order("NO-STOCK", no_stock)
    (inbox() / "unreadable.json").write_text('{"soId": "X1", ', encoding="utf-8")
    return valid, no_stock


@pytest.mark.usefixtures("synced_catalog")
def test_twenty_orders_each_end_with_their_status_and_only_valid_ones_reach_ylh(
    pipeline: Pipeline,
) -> None:
    valid, no_stock = _drop_twenty(pipeline)
    sandbox = pipeline.sandbox

    result = pipeline.run("push_orders")
    assert result.success

    received = sandbox.orders
    assert set(received) == set(valid)
    assert all(sandbox.create_count(so_id) == 1 for so_id in valid)
    assert all(sandbox.create_count(so_id) == 0 for so_id in [*INVALID, "NO-STOCK"])

    rows = orders(pipeline)
    assert set(rows) == {*valid, *INVALID, "NO-STOCK"}
    for so_id in valid:
        row = rows[so_id]
        assert row["status"] == "pushed" and row["last_error"] is None
        assert row["retail_order_no"] == received[so_id]["retailOrderNo"]
        assert row["push_attempts"] == 1 and row["county_code"] == COUNTY
    assert rows["SO-012"]["total_amt"] == amount(PRICE) + amount("10.50", 2)
    for so_id, reason in INVALID.items():
        assert rows[so_id]["status"] == "rejected"
        assert reason in rows[so_id]["last_error"], rows[so_id]["last_error"]
        assert rows[so_id]["push_attempts"] == 0
    available = stock_of(sandbox, no_stock)
    assert rows["NO-STOCK"]["status"] == "rejected"
    assert (
        f"{no_stock}: ordered 1, available {available} in county {COUNTY}"
        in (rows["NO-STOCK"]["last_error"])
    )
    assert pipeline.rows("SELECT record_key, reason LIKE '%not valid JSON%' FROM sync_rejects") == [
        ("unreadable.json", True)
    ]

    assert list(inbox().glob("*.json")) == []
    assert processed("pushed") == sorted(f"{so_id}.json" for so_id in valid)
    assert len(processed("rejected")) == 6
    assert pipeline.rows(
        "SELECT status, total_count, success_count, failed_count FROM sync_log "
        "WHERE sync_type = 'order' AND run_id = ?",
        (result.run_id,),
    ) == [("success", 20, 20, 0)]


def test_running_again_creates_nothing_new(pipeline: Pipeline) -> None:
    valid, _ = _drop_twenty(pipeline)
    assert pipeline.run("push_orders").success
    before = orders(pipeline)

    again = pipeline.run("push_orders")
    assert again.success
    sandbox = pipeline.sandbox
    assert set(sandbox.orders) == set(valid)
    assert all(sandbox.create_count(so_id) == 1 for so_id in valid)
    assert orders(pipeline) == before
    assert pipeline.rows(
        "SELECT total_count FROM sync_log WHERE sync_type = 'order' AND run_id = ?",
        (again.run_id,),
    ) == [(0,)]


def test_an_order_ylh_already_holds_ends_pushed_with_the_original_number(
    pipeline: Pipeline,
) -> None:
    sandbox = pipeline.sandbox
    [code] = stocked_codes(sandbox, 1)
    path = drop_order("SO-EARLIER", code)
    account = sandbox.account
    defaults = OrderDefaults(account.source_system, account.shop_name, account.customer_code)
    order = parse_order(json.loads(path.read_text(encoding="utf-8")), defaults, source=path.name)
    with YlhClient(sandbox.ylh_settings(rate_limit=PIPELINE_RATE_LIMIT)) as ylh:
        original = ylh.create_order(order.to_ylh_payload()).retail_order_no

    assert pipeline.run("push_orders").success
    row = orders(pipeline)["SO-EARLIER"]
    assert (row["status"], row["retail_order_no"]) == ("pushed", original)
    assert list(sandbox.orders) == ["SO-EARLIER"]
    assert sandbox.create_count("SO-EARLIER") == 2  # ours and the pipeline's, refused
    assert processed("pushed") == ["SO-EARLIER.json"]


def test_a_business_refusal_is_rejected_with_ylh_reason(pipeline: Pipeline) -> None:
    [code] = stocked_codes(pipeline.sandbox, 1)
    drop_order("SO-SELLER", code, sellerCode="0000000000")

    assert pipeline.run("push_orders").success
    row = orders(pipeline)["SO-SELLER"]
    assert row["status"] == "rejected"
    assert "YLH refused the order (SELLER_NOT_FOUND)" in row["last_error"]
    assert pipeline.sandbox.orders == {}
    assert processed("rejected") == ["SO-SELLER.json"]


def test_a_transient_failure_keeps_the_file_and_a_later_run_pushes_it_once(
    pipeline: Pipeline,
) -> None:
    sandbox = pipeline.sandbox
    [code] = stocked_codes(sandbox, 1)
    drop_order("SO-LATER", code)
    sandbox.faults = FaultConfig(error_rate=1.0)

    failed = pipeline.run("push_orders")
    assert not failed.success
    row = orders(pipeline)["SO-LATER"]
    assert row["status"] == "failed" and "still failed after" in row["last_error"]
    assert [p.name for p in inbox().glob("*.json")] == ["SO-LATER.json"]
    assert pipeline.rows(
        "SELECT status, failed_count FROM sync_log WHERE run_id = ?", (failed.run_id,)
    ) == [("failed", 1)]

    sandbox.faults = FaultConfig()
    assert pipeline.run("push_orders").success
    row = orders(pipeline)["SO-LATER"]
    assert (row["status"], row["last_error"]) == ("pushed", None)
    assert list(sandbox.orders) == ["SO-LATER"]
    assert processed("pushed") == ["SO-LATER.json"]


def test_named_files_limit_the_run_and_missing_ones_are_not_an_error(pipeline: Pipeline) -> None:
    first, second = stocked_codes(pipeline.sandbox, 2)
    drop_order("SO-A", first)
    drop_order("SO-B", second)
    config = {"ops": {"push_pending_orders": {"config": {"files": ["SO-A.json", "gone.json"]}}}}

    assert pipeline.run("push_orders", run_config=config).success
    assert list(pipeline.sandbox.orders) == ["SO-A"]
    assert [p.name for p in inbox().glob("*.json")] == ["SO-B.json"]


def test_no_secret_reaches_the_orders_tables_or_the_event_log(pipeline: Pipeline) -> None:
    [code] = stocked_codes(pipeline.sandbox, 1)
    drop_order("SO-SECRET", code)
    result = pipeline.run("push_orders")
    assert result.success

    account = pipeline.sandbox.account
    secrets = [account.ylh_password, account.ylh_client_secret, account.seller_password]
    records = json.dumps([str(r) for r in pipeline.instance.all_logs(result.run_id)])
    assert not any(secret in records for secret in secrets)
    for path in pipeline.duckdb_path.parent.rglob("*.duckdb"):
        blob = path.read_bytes()
        assert not any(secret.encode() in blob for secret in secrets), path


def test_a_half_written_file_waits_in_the_inbox_visible_in_the_run_metadata(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, finding 5: the run's metadata lists the file as waiting; nothing moves it."""
    monkeypatch.setenv("HAIER_ORDER_SET_ASIDE_MIN", "30")
    (code,) = stocked_codes(pipeline.sandbox, 1)
    drop_order("SO-WHOLE", code)
    half = inbox() / "SO-HALF.json"
    half.write_text('{"soId": "SO-HALF", "itemList": [', encoding="utf-8")

    result = pipeline.run("push_orders")

    assert result.success
    [materialization] = result.asset_materializations_for_node("push_pending_orders")
    metadata = materialization.metadata
    assert metadata["orders_waiting"].value == 1
    assert metadata["waiting_files"].value == "SO-HALF.json"
    assert metadata["files_left_for_next_run"].value == 0
    assert list(pipeline.sandbox.orders) == ["SO-WHOLE"]
    assert half.exists() and processed("rejected") == []
