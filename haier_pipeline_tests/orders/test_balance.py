"""When the payer balance suffices, and how HAIER_BALANCE_MIN is read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from haier_pipeline.environment import HAIER_BALANCE_MIN
from haier_pipeline.orders.balance import balance_problems


def test_enough_money_is_no_problem() -> None:
    latest = {"SG10": Decimal("100.00"), "SG20": Decimal("50.00")}
    assert balance_problems(latest, Decimal("50.00"), Decimal("150.00")) == []


def test_each_group_is_held_to_the_minimum_and_the_total_to_what_is_owed() -> None:
    latest = {"SG10": Decimal("100.00"), "SG20": Decimal("-5.00")}
    assert balance_problems(latest, Decimal(0), Decimal("95.01")) == [
        "sale group SG20: balance -5.00 is below HAIER_BALANCE_MIN 0",
        "total balance 95.00 is below 95.01, the total_amt of orders pushed and not yet confirmed",
    ]


def test_no_snapshot_is_a_problem() -> None:
    assert balance_problems({}, Decimal(0), Decimal(0)) == [
        "no balance snapshot yet; run balance_snapshot"
    ]


def test_the_minimum_is_an_exact_amount_or_a_named_error() -> None:
    assert HAIER_BALANCE_MIN.value(" 50000.10 ") == Decimal("50000.10")
    for bad in ("", "lots", "NaN", "Infinity"):
        with pytest.raises(ValueError, match="HAIER_BALANCE_MIN="):
            HAIER_BALANCE_MIN.value(bad)
