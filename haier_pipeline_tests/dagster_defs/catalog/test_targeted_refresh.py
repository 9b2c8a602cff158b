"""A targeted refresh from the Launchpad replaces only its keys and leaves every other row."""

from __future__ import annotations

import pytest
from dagster import ExecuteInProcessResult

from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_text

SMALL = {"size": 40, "seed": 5}
TABLES = ("products", "prices", "stock")


def _refresh(pipeline: Pipeline, **config: list[str]) -> ExecuteInProcessResult:
    return pipeline.run("catalog_sync", run_config={"ops": {"catalog": {"config": config}}})


def _rows(pipeline: Pipeline) -> dict[str, dict[tuple[str, ...], tuple[object, ...]]]:
    """Each table's rows by key, synced_at included (an untouched row keeps its own)."""
    keyed = {"products": 1, "prices": 1, "stock": 2}
    return {
        table: {row[:n]: row for row in pipeline.rows(f"SELECT * FROM {table}")}
        for table, n in keyed.items()
    }


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_only_the_given_products_in_the_given_county_are_refreshed(pipeline: Pipeline) -> None:
    assert pipeline.run("catalog_sync").success
    before = _rows(pipeline)
    codes = [p.code for p in pipeline.sandbox.catalog.procurable[:5]]
    pipeline.sandbox.reset_stats()

    result = _refresh(pipeline, product_codes=codes, county_codes=["370202"])

    assert result.success
    after = _rows(pipeline)
    stats = pipeline.sandbox.stats()
    assert sorted(tuple(q) for q in stats["stock_queries"]) == sorted(
        (code, "370202") for code in codes
    )
    for table in TABLES:
        assert set(after[table]) == set(before[table]), table  # no row lost, none added
        changed = {key for key in after[table] if after[table][key] != before[table][key]}
        refreshed = {
            key
            for key in after[table]
            if key[0] in codes and (table != "stock" or key[1] == "370202")
        }
        assert changed == refreshed, table  # synced_at moved exactly for the refreshed keys


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"product_codes": ["ga0szc00u"]}, "run config product_codes=['ga0szc00u'] holds"),
        ({"county_codes": ["3702"]}, "run config county_codes=['3702'] holds '3702'"),
    ],
)
def test_a_malformed_code_in_the_run_config_is_named_before_any_call(
    pipeline: Pipeline, config: dict[str, list[str]], message: str
) -> None:
    result = _refresh(pipeline, **config)
    assert not result.success
    assert message in failure_text(result)
    assert pipeline.sandbox.stats()["total_calls"] == 0


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_one_bad_code_among_a_hundred_thousand_gives_a_short_line_naming_it(
    pipeline: Pipeline,
) -> None:
    """Issue 15, finding 6: the line names the bad code, not the whole list (it was 1 MB)."""
    codes = [f"GA{n:07d}" for n in range(100_001)]
    codes[99_000] = "BAD-CODE!"
    result = _refresh(pipeline, product_codes=codes)
    assert not result.success
    lines = [line for line in failure_text(result).split("\n") if "product_codes" in line]
    assert lines and all(len(line) < 500 for line in lines), [len(line) for line in lines]
    assert "'BAD-CODE!'" in lines[0] and "and 99,996 more" in lines[0]
    assert pipeline.sandbox.stats()["total_calls"] == 0
