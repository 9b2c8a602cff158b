"""catalog_sync against each of the sandbox's fault switches, run through Dagster.

Every test states what the user sees (Dagster run status, sync_log rows, message) in a
docstring sentence starting "The user sees:"; the README's fault table is made of them.

Quick tests (unmarked, run in CI) make calls one at a time (``run_catalog(workers=1)``): the
sandbox draws its faults from a seeded RNG per call, so the same calls fail in every run and
the outcome is exact rather than likely. Each asserts first that its seed never faults four
draws in a row, which is what "survivable within 3 retries" means for calls in sequence.
Heavy storms (``@pytest.mark.slow``) run at the production concurrency, where which call
draws which fault varies between runs; they assert the accounting instead: every record is
either loaded exactly or listed in sync_rejects, and the client's count matches the server's.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from dagster import DagsterRunStatus, ExecuteInProcessResult

from haier_pipeline.sandbox import FaultConfig, SandboxServer
from haier_pipeline.sandbox.faults import malformed_variant
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.faults.harness import (
    client_count,
    expected_catalog,
    failure_message,
    loaded_catalog,
    longest_fault_run,
    run_catalog,
    run_status,
    snapshot,
    sync_log,
)

COUNTIES = ("110101", "320106")
QUICK = {"size": 24, "seed": 7}  # 23 procurable products: 1 + 2 + 46 calls plus the token
DRAWS = 150  # more draws than a quick run makes, retries included


@pytest.fixture
def quick(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("HAIER_COUNTY_CODES", ",".join(COUNTIES))
    return pipeline


def _calls(sandbox: SandboxServer) -> int:
    """Logical calls of one fault-free sync: token, all products, price batches, stock."""
    n = len(sandbox.catalog.procurable)
    return 1 + 1 + math.ceil(n / 20) + n * len(COUNTIES)


def _assert_whole_and_exact(pipeline: Pipeline, run_id: str) -> None:
    """Run succeeded, three 'success' rows with full counts, every record loaded exactly."""
    sandbox = pipeline.sandbox
    n = len(sandbox.catalog.procurable)
    assert run_status(pipeline, run_id) == DagsterRunStatus.SUCCESS
    log = sync_log(pipeline, run_id)
    assert {t: (r.status, r.total, r.success, r.failed) for t, r in log.items()} == {
        "products": ("success", n, n, 0),
        "prices": ("success", n, n, 0),
        "stock": ("success", n * len(COUNTIES), n * len(COUNTIES), 0),
    }
    assert all(r.message.startswith("loaded ") for r in log.values())
    assert loaded_catalog(pipeline.rows) == expected_catalog(sandbox.catalog, COUNTIES)


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_5xx_storm_of_20_percent_is_retried_and_every_record_loads(quick: Pipeline) -> None:
    """The user sees: run SUCCESS; products, prices and stock rows 'success' with full counts
    ("loaded 23 of 23 ..."); the run log counts the retries."""
    faults = FaultConfig(error_rate=0.2, seed=0)
    assert longest_fault_run(faults, DRAWS) < 4

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats, client = quick.sandbox.stats(), client_count(quick, result.run_id)
    assert stats["sent_5xx"] >= 5
    assert client.retries == stats["sent_5xx"]  # each 5xx retried once, none given up
    assert client.calls == stats["total_calls"] == _calls(quick.sandbox) + stats["sent_5xx"]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_429_burst_as_long_as_the_retry_budget_is_waited_out(quick: Pipeline) -> None:
    """The user sees: run SUCCESS, all rows 'success'; the run log says "3 retries, 3 answered
    429" and the sync took the Retry-After seconds longer."""
    faults = FaultConfig(burst_429_every=50, burst_429_length=3)

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats, client = quick.sandbox.stats(), client_count(quick, result.run_id)
    # Call 50 and its first two retries are refused; the third retry gets through.
    assert stats["sent_429"] == client.http_429 == client.retries == 3
    assert client.calls == stats["total_calls"] == _calls(quick.sandbox) + 3
    stock_seconds = _metadata(result, "stock", "duration_s")
    assert stock_seconds >= 3.0  # Retry-After: 1 honoured before each of the 3 retries


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_token_revoked_mid_run_is_replaced_and_every_record_loads(quick: Pipeline) -> None:
    """The user sees: run SUCCESS, all rows 'success'; nothing about the revocations but the
    run log's "refused the access token; fetching a new one" lines."""
    faults = FaultConfig(revoke_tokens_every=15)

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats = quick.sandbox.stats()
    revoked = stats["token_revocations"]
    assert revoked >= 3
    assert stats["sent_401"] == revoked  # the call that met each revocation, once
    assert stats["tokens_issued"] == 1 + revoked  # one new token per revocation, no more
    assert client_count(quick, result.run_id).calls == stats["total_calls"]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_dropped_connections_are_retried_and_every_record_loads(quick: Pipeline) -> None:
    """The user sees: run SUCCESS, all rows 'success'; the run log counts the retries."""
    faults = FaultConfig(drop_rate=0.2, seed=10)
    assert longest_fault_run(faults, DRAWS) < 4

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats, client = quick.sandbox.stats(), client_count(quick, result.run_id)
    assert stats["drops"] >= 5
    assert client.retries == stats["drops"]
    assert client.calls == stats["total_calls"] == _calls(quick.sandbox) + stats["drops"]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_answers_slower_than_haier_timeout_s_are_abandoned_and_retried(
    quick: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user sees: run SUCCESS, all rows 'success', the sync slower by HAIER_TIMEOUT_S per
    slow answer; the run log counts the retries."""
    monkeypatch.setenv("HAIER_TIMEOUT_S", "0.3")
    faults = FaultConfig(slow_rate=0.1, slow_s=0.8, seed=1)
    assert longest_fault_run(faults, DRAWS) < 4

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats, client = quick.sandbox.stats(), client_count(quick, result.run_id)
    assert stats["slow_answers"] >= 5
    assert client.retries == stats["slow_answers"]  # each one timed out and was retried
    assert client.calls == stats["total_calls"] == _calls(quick.sandbox) + stats["slow_answers"]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_html_pages_instead_of_json_are_retried_and_every_record_loads(quick: Pipeline) -> None:
    """The user sees: run SUCCESS, all rows 'success'; the run log counts the retries."""
    faults = FaultConfig(html_rate=0.2, seed=11)
    assert longest_fault_run(faults, DRAWS) < 4

    result = run_catalog(quick, faults)

    _assert_whole_and_exact(quick, result.run_id)
    stats, client = quick.sandbox.stats(), client_count(quick, result.run_id)
    assert stats["html_sent"] >= 5
    assert client.retries == stats["html_sent"]
    assert client.calls == stats["total_calls"] == _calls(quick.sandbox) + stats["html_sent"]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_malformed_records_are_rejected_with_reasons_and_the_rest_loads(quick: Pipeline) -> None:
    """The user sees: run SUCCESS; products row 'partial' ("3 failed (3 malformed ...); see
    sync_rejects where run_id = ..."), prices and stock 'success' for the good products;
    sync_rejects holds each broken record with its reason and raw text."""
    sandbox = quick.sandbox
    broken = FaultConfig.malformed_sample(sandbox.catalog, 3)

    result = run_catalog(quick, FaultConfig(malformed_codes=broken))

    assert run_status(quick, result.run_id) == DagsterRunStatus.SUCCESS
    good = len(sandbox.catalog.procurable) - len(broken)
    log = sync_log(quick, result.run_id)
    assert {t: (r.status, r.total, r.success, r.failed) for t, r in log.items()} == {
        "products": ("partial", good + 3, good, 3),
        "prices": ("success", good, good, 0),
        "stock": ("success", good * len(COUNTIES), good * len(COUNTIES), 0),
    }
    assert "3 failed (3 malformed, 0 in failed calls)" in log["products"].message
    assert f"see sync_rejects where run_id = '{result.run_id}'" in log["products"].message
    expected = expected_catalog(sandbox.catalog, COUNTIES, without=broken)
    assert loaded_catalog(quick.rows) == expected
    rejects = quick.rows(
        "SELECT sync_type, reason, raw FROM sync_rejects WHERE run_id = ?", (result.run_id,)
    )
    assert len(rejects) == 3
    assert all(kind == "products" and reason and raw for kind, reason, raw in rejects)
    assert sum(any(code in raw for code in broken) for *_, raw in rejects) == 3


@pytest.mark.parametrize(
    ("faults", "cause"),
    [
        (FaultConfig(error_rate=1.0), "still failed after 4 attempts"),
        (FaultConfig(html_rate=1.0), "the answer is not JSON (4 attempts in a row)"),
    ],
    ids=["5xx-every-call", "html-every-call"],
)
@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_a_fault_on_every_call_fails_the_run_and_keeps_the_previous_catalog(
    quick: Pipeline, faults: FaultConfig, cause: str
) -> None:
    """The user sees: run FAILURE with "CatalogSyncFailed: loaded 0 of 0 products records ...
    still failed after 4 attempts" on the step; all three sync_log rows 'failed' ("sync
    failed, tables unchanged: ..."); yesterday's products, prices and stock still published."""
    first = run_catalog(quick)
    assert first.success
    before = snapshot(quick.rows)
    first_log = sync_log(quick, first.run_id)

    result = run_catalog(quick, faults)

    assert run_status(quick, result.run_id) == DagsterRunStatus.FAILURE
    error = failure_message(result)
    assert "CatalogSyncFailed" in error and cause in error
    log = sync_log(quick, result.run_id)
    assert list(log) == ["products", "prices", "stock"]
    for row in log.values():
        assert (row.status, row.success) == ("failed", 0)
        assert row.message.startswith("sync failed, tables unchanged: CatalogSyncFailed")
        assert cause in row.message
    assert snapshot(quick.rows) == before  # previous catalog kept, synced_at included
    assert sync_log(quick, first.run_id) == first_log
    assert quick.rows("SELECT count(*) FROM sync_log WHERE status = 'processing'") == [(0,)]
    stats = quick.sandbox.stats()
    assert stats["total_calls"] == 4  # the token call, once and 3 retries; nothing after it
    assert stats["calls"] == {"jsh_token": 4}
    # Nothing of the failed run is published, so nothing may point the user at sync_rejects.
    assert all("sync_rejects" not in row.message for row in log.values())
    assert "sync_rejects" not in error
    rejects = quick.rows("SELECT count(*) FROM sync_rejects WHERE run_id = ?", (result.run_id,))
    assert rejects == [(0,)]


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_stock_refused_for_every_product_keeps_the_previous_stock(
    quick: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user sees: run FAILURE naming the stock sync ("stock: loaded 0 of 46 stock
    records; 46 failed ... Haier refused the call ... 密码错误"); products and prices 'success'
    and published; stock row 'failed'; the stock table keeps yesterday's rows and synced_at.

    Not a fault switch: the sandbox cannot fail one endpoint alone, and a wrong seller
    password does exactly that, deterministically (every stock call is refused, no retry).
    """
    first = run_catalog(quick)
    assert first.success
    stock_before = quick.rows("SELECT * FROM stock ORDER BY ALL")
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "wrong-seller-password")

    result = run_catalog(quick)

    n = len(quick.sandbox.catalog.procurable)
    log = sync_log(quick, result.run_id)
    assert log["stock"].status == "failed"
    assert (log["stock"].total, log["stock"].success, log["stock"].failed) == (2 * n, 0, 2 * n)
    assert "Haier refused the call" in log["stock"].message
    assert (log["products"].status, log["prices"].status) == ("success", "success")
    assert quick.rows("SELECT * FROM stock ORDER BY ALL") == stock_before
    assert run_status(quick, result.run_id) == DagsterRunStatus.FAILURE
    assert "stock: loaded 0 of" in failure_message(result)


@pytest.mark.parametrize("sandbox", [QUICK], indirect=True)
def test_a_product_whose_record_breaks_keeps_yesterdays_rows(quick: Pipeline) -> None:
    """The user sees: products row 'partial' naming the broken records, and those
    products still in products, prices and stock with yesterday's synced_at, as for a key
    whose call failed. Only records that still carry their productCode can be kept."""
    catalog = quick.sandbox.catalog
    keyed = [p.code for p in catalog.procurable if p.has_price and malformed_variant(p.code)]
    broken = frozenset(keyed[:2])
    assert run_catalog(quick).success
    yesterday = snapshot(quick.rows)

    result = run_catalog(quick, FaultConfig(malformed_codes=broken))

    assert sync_log(quick, result.run_id)["products"].status == "partial"
    kept = snapshot(quick.rows)
    for table, rows in yesterday.items():
        old = [row for row in rows if row[0] in broken]
        assert old and [row for row in kept[table] if row[0] in broken] == old, table


HEAVY = {"size": 300, "seed": 11}  # 270 procurable products: about 830 calls a run
STORMS = {
    "5xx-30pct": (FaultConfig(error_rate=0.3, seed=6), "sent_5xx", {}),
    "drops-30pct": (FaultConfig(drop_rate=0.3, seed=5), "drops", {}),
    "html-30pct": (FaultConfig(html_rate=0.3, seed=5), "html_sent", {}),
    "429-bursts-of-6": (FaultConfig(burst_429_every=40, burst_429_length=6), "sent_429", {}),
    "slow-20pct": (
        FaultConfig(slow_rate=0.2, slow_s=1.2, seed=5),
        "slow_answers",
        {"HAIER_TIMEOUT_S": "0.5"},
    ),
    "revoke-every-60": (FaultConfig(revoke_tokens_every=60), "sent_401", {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("storm", list(STORMS))
@pytest.mark.parametrize("sandbox", [HEAVY], indirect=True)
def test_heavy_storm_at_full_concurrency_loses_no_record(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, storm: str
) -> None:
    """The user sees: run SUCCESS; each sync_log row 'success', or 'partial' naming the few
    calls that outlasted 3 retries ("N failed (0 malformed, N in failed calls); see
    sync_rejects ..."); their keys keep yesterday's rows, so the tables stay whole."""
    faults, counter, env = STORMS[storm]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox = pipeline.sandbox
    counties = sandbox.env()["HAIER_COUNTY_CODES"].split(",")
    # The token and the full product list are fetched one after the other, before any
    # concurrency: if the seed faulted 4 of those draws in a row, no product would load.
    assert longest_fault_run(faults, 8) < 4
    assert run_catalog(pipeline, workers=None).success
    yesterday = {table: _synced_at(pipeline, table) for table in ("prices", "stock")}

    result = run_catalog(pipeline, faults, workers=None)

    assert run_status(pipeline, result.run_id) == DagsterRunStatus.SUCCESS
    log = sync_log(pipeline, result.run_id)
    for row in log.values():
        assert row.success + row.failed == row.total
        assert row.status == ("success" if row.failed == 0 else "partial")
    failed = _failed_keys(pipeline, result.run_id)
    assert (len(failed["prices"]), len(failed["stock"])) == (
        log["prices"].failed,
        log["stock"].failed,
    )
    # Tables whole: fetched keys anew, failed keys carried over from yesterday unchanged.
    assert loaded_catalog(pipeline.rows) == expected_catalog(sandbox.catalog, counties)
    for table, keys in failed.items():
        today = _synced_at(pipeline, table)
        assert all(today[key] == yesterday[table][key] for key in keys)
        assert all(today[key] > yesterday[table][key] for key in today if key not in keys)

    stats, client = sandbox.stats(), client_count(pipeline, result.run_id)
    failed_calls = len(failed["stock"]) + _price_batches(sandbox, failed["prices"])
    calls = stats["total_calls"]
    assert stats[counter] >= calls // 20  # a storm indeed
    assert failed_calls <= calls // 50  # retries work: without them a third would fail
    assert client.calls == calls
    if counter in ("sent_5xx", "drops", "html_sent", "sent_429"):
        assert stats[counter] == client.retries + failed_calls  # each retried or given up
    if counter == "slow_answers":  # under load a normal answer may time out too
        assert client.retries + failed_calls >= stats[counter]
    if counter == "sent_429":
        assert client.http_429 == stats["sent_429"]


def _synced_at(pipeline: Pipeline, table: str) -> dict[Any, Any]:
    keys = "product_code, county_code" if table == "stock" else "product_code"
    rows = pipeline.rows(f"SELECT {keys}, synced_at FROM {table}")
    return {(row[0] if len(row) == 2 else row[:2]): row[-1] for row in rows}


def _failed_keys(pipeline: Pipeline, run_id: str) -> dict[str, set[Any]]:
    rows = pipeline.rows(
        "SELECT sync_type, record_key FROM sync_rejects WHERE run_id = ? "
        "AND reason LIKE 'call failed:%'",
        (run_id,),
    )
    failed: dict[str, set[Any]] = {"prices": set(), "stock": set()}
    for sync_type, key in rows:
        failed[sync_type].add(tuple(key.split("@")) if sync_type == "stock" else key)
    return failed


def _price_batches(sandbox: SandboxServer, codes: set[str]) -> int:
    """Price calls behind these failed codes: the sync asks for sorted codes, 20 per call."""
    ordered = sorted(p.code for p in sandbox.catalog.procurable)
    return len({ordered.index(code) // 20 for code in codes})


def _metadata(result: ExecuteInProcessResult, asset: str, key: str) -> Any:
    for materialization in result.asset_materializations_for_node("catalog"):
        if materialization.asset_key.path == [asset]:
            return materialization.metadata[key].value
    raise AssertionError(f"no materialization of {asset}")
