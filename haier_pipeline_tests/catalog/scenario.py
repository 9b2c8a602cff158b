"""A catalog that changes day by day at the emulator, and one catalog sync per day.

Day 2 reprices two products, retires one, lists new ones and empties one county's stock of
one product; day 3 puts one price back, changes the price of a product whose records come
back broken that day (when asked to), and restocks. Days 4 and later look like day 3.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from haier_pipeline.catalog.sync import CatalogSync
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.catalog import (
    SandboxCatalog,
    SandboxProduct,
    StockLevel,
    generate_catalog,
    invoice_price,
)
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.storage.warehouse import Warehouse

COUNTIES = ("110101", "370202")
SEED = 11


class MovedStock(SandboxCatalog):
    """The sandbox catalog with some (product, county) stock quantities moved."""

    def __init__(self, base: SandboxCatalog, products: tuple[SandboxProduct, ...], moves: dict):
        super().__init__(base.seed, products)
        self.moves = moves

    def stock(self, code: str, county: str) -> tuple[StockLevel, ...]:
        levels = super().stock(code, county)
        if (code, county) in self.moves:
            return (dataclasses.replace(levels[0], qty=self.moves[code, county]), *levels[1:])
        return levels


def repriced(product: SandboxProduct, supply: str) -> SandboxProduct:
    price = Decimal(supply)
    return dataclasses.replace(
        product,
        supply_price=price,
        invoice_price=invoice_price(price, product.discount_rate, product.rebate_money),
    )


@dataclass
class Days:
    """The emulator's catalog for each day, and what the test changed on it."""

    base: SandboxCatalog
    newcomers: tuple[SandboxProduct, ...]

    def __post_init__(self) -> None:
        priced = [p for p in self.base.products if p.procurable and p.has_price]
        self.repriced, self.bounced, self.retired, self.broken = (
            priced[0],
            priced[1],
            priced[2],
            priced[3],
        )
        one_warehouse = next(p for p in priced[4:] if not p.stock_as_list)
        self.moved = (one_warehouse.code, COUNTIES[0])

    def catalog(self, day: int) -> SandboxCatalog:
        products = {p.code: p for p in self.base.products}
        moves: dict[tuple[str, str], int] = {}
        if day >= 2:
            products[self.repriced.code] = repriced(self.repriced, "1111.00")
            products[self.bounced.code] = repriced(self.bounced, "2222.00")
            del products[self.retired.code]
            products.update({p.code: p for p in self.newcomers})
            moves[self.moved] = 0
        if day >= 3:
            products[self.bounced.code] = self.bounced  # back to day 1's price
            products[self.broken.code] = repriced(self.broken, "3333.00")
            moves[self.moved] = 7
        return MovedStock(self.base, tuple(products.values()), moves)


def make_days() -> Days:
    base = generate_catalog(30, seed=SEED)
    newcomers = tuple(p for p in generate_catalog(4, seed=SEED + 1) if p.procurable)
    return Days(base, newcomers)


def sync(days: Days, day: int, warehouse: Warehouse, faults: FaultConfig | None = None) -> str:
    """One day's catalog_sync against an emulator serving that day's catalog."""
    with SandboxServer(catalog=days.catalog(day), rate_limit=None) as sandbox:
        if faults:
            sandbox.faults = faults
        settings = dataclasses.replace(sandbox.jsh_settings(), rate_limit=1000)
        with JshClient(settings) as client:
            run_id = f"day-{day}"
            CatalogSync(client, warehouse, run_id, counties=COUNTIES).run()
    return run_id


def three_days(warehouse: Warehouse) -> Days:
    """Days 1 to 3 synced, day 3 with one product's records broken: a file with history."""
    days = make_days()
    sync(days, 1, warehouse)
    sync(days, 2, warehouse)
    sync(days, 3, warehouse, FaultConfig(malformed_codes=frozenset({days.broken.code})))
    return days
