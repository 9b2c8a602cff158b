"""catalog_sync, run through Dagster against the sandbox over real HTTP into a real DuckDB file."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline_tests.conftest import Pipeline

COUNTIES = ("110101", "320106", "370202")


def _expected_stock(sandbox: SandboxServer) -> dict[tuple[str, str], int]:
    return {
        (p.code, county): sum(level.qty for level in sandbox.catalog.stock(p.code, county))
        for p in sandbox.catalog.procurable
        for county in COUNTIES
    }


def _stock(pipeline: Pipeline) -> dict[tuple[str, str], int]:
    rows = pipeline.rows("SELECT product_code, county_code, stock_qty FROM stock")
    return {(code, county): qty for code, county, qty in rows}


def test_catalog_sync_loads_every_product_price_and_stock_exactly(pipeline: Pipeline) -> None:
    result = pipeline.run("catalog_sync")
    assert result.success

    catalog = pipeline.sandbox.catalog
    procurable = {p.code: p for p in catalog.procurable}
    products = pipeline.rows(
        "SELECT product_code, product_group, brand, leaflet_urls FROM products"
    )
    assert {code for code, *_ in products} == set(procurable)
    for code, group, brand, leaflets in products:
        assert (group, brand, leaflets) == (
            procurable[code].group,
            procurable[code].brand,
            procurable[code].leaflet_urls,
        )

    prices = {
        code: (supply, invoice, rate, rebate)
        for code, supply, invoice, rate, rebate in pipeline.rows(
            "SELECT product_code, supply_price, invoice_price, direct_discount_rate, rebate_money "
            "FROM prices"
        )
    }
    assert set(prices) == set(procurable)
    for code, product in procurable.items():
        if product.has_price:
            assert prices[code] == (
                product.supply_price,
                product.invoice_price,
                product.discount_rate,
                product.rebate_money,
            )
        else:
            assert prices[code][0] is None
    assert all(isinstance(v, Decimal) for row in prices.values() for v in row if v is not None)

    stock = {
        (p, c): q
        for p, c, q in pipeline.rows("SELECT product_code, county_code, stock_qty FROM stock")
    }
    assert stock == _expected_stock(pipeline.sandbox)


def test_prices_take_ceil_n_over_20_calls_and_no_product_is_fetched_twice(
    pipeline: Pipeline,
) -> None:
    assert pipeline.run("catalog_sync").success
    stats = pipeline.sandbox.stats()
    n = len(pipeline.sandbox.catalog.procurable)

    assert stats["served"]["prices"] == math.ceil(n / 20)
    assert stats["served"]["products"] == 1  # discovery: one call lists every procurable product
    priced = Counter(stats["product_codes"]["prices"])
    assert len(priced) == n and max(priced.values()) == 1
    stocked = Counter(tuple(q) for q in stats["stock_queries"])
    assert len(stocked) == n * len(COUNTIES) and max(stocked.values()) == 1


def test_each_sync_type_writes_one_sync_log_row_per_run(pipeline: Pipeline) -> None:
    result = pipeline.run("catalog_sync")
    rows = pipeline.rows(
        "SELECT sync_type, status, total_count, success_count, failed_count, "
        "completed_at >= started_at FROM sync_log WHERE run_id = ? ORDER BY id",
        (result.run_id,),
    )
    n = len(pipeline.sandbox.catalog.procurable)
    assert rows == [
        ("products", "success", n, n, 0, True),
        ("prices", "success", n, n, 0, True),
        ("stock", "success", n * 3, n * 3, 0, True),
    ]


def test_running_twice_leaves_no_duplicate_rows(pipeline: Pipeline) -> None:
    assert pipeline.run("catalog_sync").success
    first = pipeline.rows(
        "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM prices), "
        "(SELECT count(*) FROM stock)"
    )
    assert pipeline.run("catalog_sync").success
    second = pipeline.rows(
        "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM prices), "
        "(SELECT count(*) FROM stock)"
    )
    assert first == second
    assert pipeline.rows("SELECT count(*) FROM sync_log") == [(6,)]


def test_explicit_product_codes_are_batched_and_unknown_codes_explained(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = pipeline.sandbox.catalog
    codes = [p.code for p in catalog.procurable[:45]] + ["ZZZZZZZZ9"]
    monkeypatch.setenv("HAIER_PRODUCT_CODES", ",".join(codes + codes[:3]))  # repeats ignored

    assert pipeline.run("catalog_sync").success
    stats = pipeline.sandbox.stats()
    assert stats["served"]["products"] == math.ceil(46 / 20)
    assert sorted(stats["product_codes"]["products"]) == sorted(codes)
    assert pipeline.rows(
        "SELECT is_procurable, not_procurable_reason IS NOT NULL FROM products "
        "WHERE product_code = 'ZZZZZZZZ9'"
    ) == [(False, True)]
    assert pipeline.rows("SELECT count(*) FROM prices") == [(45,)]


@pytest.mark.parametrize("sandbox", [{"size": 160, "seed": 11}], indirect=True)
def test_under_injected_faults_good_records_load_exactly_and_bad_ones_are_counted(
    pipeline: Pipeline,
) -> None:
    sandbox = pipeline.sandbox
    broken = FaultConfig.malformed_sample(sandbox.catalog, 4)
    sandbox.faults = FaultConfig(
        error_rate=0.05,
        burst_429_every=97,
        burst_429_length=3,
        revoke_tokens_every=150,
        drop_rate=0.01,
        malformed_codes=broken,
        seed=3,
    )
    result = pipeline.run("catalog_sync")
    assert result.success

    good = {p.code: p for p in sandbox.catalog.procurable if p.code not in broken}
    loaded = dict(pipeline.rows("SELECT product_code, supply_price FROM prices"))
    assert set(loaded) == set(good)
    assert all(loaded[c] == p.supply_price for c, p in good.items())
    stock = {
        (p, c): q
        for p, c, q in pipeline.rows("SELECT product_code, county_code, stock_qty FROM stock")
    }
    expected = {k: v for k, v in _expected_stock(sandbox).items() if k[0] not in broken}
    assert stock == expected

    products_log = pipeline.rows(
        "SELECT status, failed_count FROM sync_log WHERE run_id = ? AND sync_type = 'products'",
        (result.run_id,),
    )
    assert products_log == [("partial", len(broken))]
    rejects = pipeline.rows("SELECT count(*) FROM sync_rejects WHERE run_id = ?", (result.run_id,))
    assert rejects == [(len(broken),)]
    stats = sandbox.stats()
    assert stats["sent_5xx"] > 0 and stats["sent_429"] > 0 and stats["token_revocations"] > 0


def test_no_secret_reaches_duckdb_the_event_log_or_the_output(
    pipeline: Pipeline, capfd: pytest.CaptureFixture[str]
) -> None:
    account = pipeline.sandbox.account
    secrets = [account.client_secret, account.password, account.seller_password]
    secrets = [s for s in secrets if s]
    result = pipeline.run("catalog_sync")
    assert result.success

    data_files = [p for p in Path(pipeline.duckdb_path).parent.rglob("*") if p.is_file()]
    assert data_files
    for path in data_files:
        blob = path.read_bytes()
        assert not any(s.encode() in blob for s in secrets), path

    records = pipeline.instance.all_logs(result.run_id)
    event_log = json.dumps([str(r) for r in records])
    run = pipeline.instance.get_run_by_id(result.run_id)
    event_log += json.dumps(str(run.run_config)) if run else ""
    assert not any(s in event_log for s in secrets)

    out, err = capfd.readouterr()
    assert not any(s in out + err for s in secrets)


def test_a_long_phase_logs_its_progress_and_each_table_gets_numeric_metadata(
    pipeline: Pipeline,
) -> None:
    result = pipeline.run("catalog_sync")
    assert result.success

    progress = re.compile(
        r"stock: (\d+) / (\d+) done \((\d+) %\), [\d.]+ calls/s, about \d+ s left"
    )
    lines = [
        match
        for record in pipeline.instance.all_logs(result.run_id)
        if (match := progress.search(record.user_message or ""))
    ]
    assert 8 <= len(lines) <= 12  # about every 10 %
    done = [int(m[1]) for m in lines]
    assert done == sorted(done) and int(lines[0][2]) == len(pipeline.sandbox.catalog.procurable) * 3

    for table in ("products", "prices", "stock"):
        [materialization] = [
            m
            for m in result.asset_materializations_for_node("catalog")
            if m.asset_key.to_user_string() == table
        ]
        metadata = materialization.metadata
        for name in ("calls_per_s", "retries", "http_429", "duration_s", "api_calls"):
            assert isinstance(metadata[name].value, int | float), (table, name)
