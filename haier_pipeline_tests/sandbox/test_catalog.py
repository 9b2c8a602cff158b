"""The generated catalog: deterministic, realistic in shape, exact in money, fast at 100k."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from haier_pipeline.sandbox import DEFAULT_COUNTIES, FaultConfig, generate_catalog
from haier_pipeline.sandbox.catalog import invoice_price


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(2000, seed=42)


def test_same_seed_gives_the_same_catalog_and_stock() -> None:
    first, second = generate_catalog(300, seed=5), generate_catalog(300, seed=5)
    assert first.products == second.products
    code = first.products[17].code
    for county in DEFAULT_COUNTIES:
        assert first.stock(code, county) == second.stock(code, county)


def test_other_seed_gives_another_catalog() -> None:
    assert generate_catalog(50, seed=1).codes != generate_catalog(50, seed=2).codes


def test_smaller_catalog_is_a_prefix_of_a_larger_one() -> None:
    assert generate_catalog(1000, seed=3).codes[:100] == generate_catalog(100, seed=3).codes


def test_codes_are_nine_upper_case_letters_or_digits_and_unique(catalog) -> None:
    assert all(re.fullmatch(r"[A-Z0-9]{9}", code) for code in catalog.codes)
    assert len(set(catalog.codes)) == len(catalog)


def test_share_of_unprocurable_and_unpriced_products(catalog) -> None:
    unprocurable = [p for p in catalog if not p.procurable]
    unpriced = [p for p in catalog if p.procurable and not p.has_price]
    assert 0.07 < len(unprocurable) / len(catalog) < 0.13
    assert 0.03 < len(unpriced) / len(catalog) < 0.07
    assert all(p.not_procurable_reason for p in unprocurable)
    assert all(p.supply_price is None and p.invoice_price is None for p in unprocurable)


def test_groups_brands_and_models_look_like_haier(catalog) -> None:
    assert {"电热水器", "冰箱", "洗衣机", "空调", "燃气热水器", "油烟机", "电视", "冷柜"} <= {
        p.group for p in catalog
    }
    assert {p.brand for p in catalog} == {"海尔", "卡萨帝", "统帅", "Leader"}
    heaters = [p.model for p in catalog if p.group == "电热水器"]
    assert all(re.fullmatch(r"EC\d{4}-[A-Z]{2}\d", model) for model in heaters)
    product = catalog.products[0]
    assert product.image_url.startswith("https://") and product.code in product.image_url
    assert 1 <= len(product.leaflet_urls) <= 4


def test_invoice_price_follows_the_formula_to_the_cent(catalog) -> None:
    priced = [p for p in catalog if p.has_price]
    for product in priced:
        assert isinstance(product.supply_price, Decimal)
        expected = product.supply_price * (1 - product.discount_rate) - product.rebate_money
        assert product.invoice_price == expected.quantize(Decimal("0.01"))
        assert product.invoice_price.as_tuple().exponent == -2
    assert any(p.discount_rate > 0 for p in priced) and any(p.rebate_money > 0 for p in priced)
    # 94.995 rounds half up, like Java's BigDecimal.setScale(2, HALF_UP)
    assert invoice_price(Decimal("100.00"), Decimal("0.05"), Decimal("0.005")) == Decimal("95.00")


def test_money_and_stock_quirks_are_mixed(catalog) -> None:
    assert {p.money_as_text for p in catalog} == {True, False}
    assert {p.stock_as_list for p in catalog} == {True, False}


def test_stock_varies_by_county_and_is_sometimes_zero(catalog) -> None:
    levels = {
        (p.code, county): catalog.stock(p.code, county)
        for p in catalog.products[:200]
        for county in ("110101", "320106", "370202", "654321")
    }
    quantities = [level.qty for answer in levels.values() for level in answer]
    assert 0 in quantities and max(quantities) > 10
    by_product = [
        {levels[(p.code, c)][0].qty for c in ("110101", "320106", "370202")}
        for p in catalog.products[:200]
    ]
    assert sum(len(qtys) > 1 for qtys in by_product) > 100
    list_product = next(p for p in catalog if p.stock_as_list)
    warehouses = catalog.stock(list_product.code, "110101")
    assert [w.grade for w in warehouses] == ["0", "1"]


def test_malformed_sample_is_deterministic_and_priced(catalog) -> None:
    sample = FaultConfig.malformed_sample(catalog, 5)
    assert sample == FaultConfig.malformed_sample(catalog, 5)
    assert len(sample) == 5
    assert all(catalog.get(code).procurable and catalog.get(code).has_price for code in sample)
    assert FaultConfig.malformed_sample(catalog, 5, seed=1) != sample
    with pytest.raises(ValueError, match="asked for"):
        FaultConfig.malformed_sample(catalog, 10**6)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_catalog(0)


def test_hundred_thousand_products_build_quickly() -> None:
    started = time.perf_counter()
    catalog = generate_catalog(100_000, seed=42)
    elapsed = time.perf_counter() - started
    print(f"100,000 products in {elapsed:.2f} s")
    assert len(catalog) == 100_000
    assert elapsed < 4.0  # target < 2 s on an idle machine; headroom for a busy CI box
