"""The order of stock calls: consecutive calls differ in product and county, so the first
calls of a phase can tell a refusal of the calls from a product or county Haier does not
serve (pure arithmetic)."""

from __future__ import annotations

from itertools import pairwise, product

import pytest

from haier_pipeline.catalog.sync import _diagonal


@pytest.mark.parametrize(("products", "counties"), [(10, 3), (3, 3), (2, 5), (1, 4), (7, 1)])
def test_every_pair_once_and_neighbours_differ_in_both(products: int, counties: int) -> None:
    codes = [f"P{i}" for i in range(products)]
    places = [f"C{i}" for i in range(counties)]
    order = _diagonal(codes, places)
    assert sorted(order) == sorted(product(codes, places))
    first = order[: min(products, counties)]
    assert len({code for code, _ in first}) == len({county for _, county in first}) == len(first)
    if products >= counties > 1:
        assert all(a[1] != b[1] for a, b in pairwise(order))


def test_nothing_to_call() -> None:
    assert _diagonal([], ["110101"]) == _diagonal(["GA0SZC00U"], []) == []
