"""Turning parsed records into table rows: warehouses summed, decimals never rounded."""

from datetime import UTC, date, datetime
from decimal import Decimal

from haier_pipeline.catalog.rows import price_rows, stock_row
from haier_pipeline.haier.records import Price, StockLevel

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _level(warehouse: str, qty: int, grade: str, hours: int) -> StockLevel:
    return StockLevel(
        "GA0SZC00U", "110101", qty, warehouse, grade, "16:00", date(2026, 11, 24), hours, False
    )


def test_stock_is_summed_over_warehouses_and_timeliness_comes_from_the_local_one() -> None:
    levels = [_level("UPPER01", 40, "1", 72), _level("LOCAL01", 5, "0", 24)]
    row = stock_row("GA0SZC00U", "110101", levels, NOW)
    assert row["stock_qty"] == 45
    assert (row["warehouse_code"], row["delivery_hours"]) == ("LOCAL01", 24)
    assert row["warehouse_count"] == 2


def test_no_warehouse_means_zero_stock_not_a_guess() -> None:
    row = stock_row("GA0SZC00U", "110101", [], NOW)
    assert (row["stock_qty"], row["warehouse_code"], row["warehouse_count"]) == (0, None, 0)


def _price(supply: str, rate: str = "0.05") -> Price:
    return Price("GA0SZC00U", Decimal(supply), None, Decimal(rate), Decimal("0"), "COM", True, None)


def test_prices_keep_exact_decimals() -> None:
    table, rejected = price_rows([_price("1999.99", "0.0525")], NOW)
    assert rejected == []
    assert table.column("supply_price").to_pylist() == [Decimal("1999.99")]
    assert table.column("direct_discount_rate").to_pylist() == [Decimal("0.0525")]


def test_a_price_with_more_decimals_than_its_column_is_rejected_not_rounded() -> None:
    table, rejected = price_rows([_price("1999.995"), _price("10.00", "0.12345")], NOW)
    assert table.num_rows == 0
    assert [r.reason.split(" ")[0] for r in rejected] == ["supply_price", "direct_discount_rate"]
    assert "not rounded" in rejected[0].reason
