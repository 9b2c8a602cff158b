"""A deterministic Haier catalog: products, prices and stock derived from (seed, size).

Tests and benchmarks need the same catalog in every process that shares a seed (a test may
start the sandbox CLI in another process and still know which products exist), so everything
comes from one seeded ``random.Random`` in a fixed order, and stock, which has no natural size,
is derived on demand from a hash of (seed, product, county).
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from haier_pipeline.sandbox.protocol import NOT_PROCURABLE_REASONS

DEFAULT_COUNTIES = ("110101", "320106", "370202")
IMAGE_HOST = "https://img.sandbox-haier.invalid"  # .invalid: nothing can ever call it
CENT = Decimal("0.01")

_CODE_ALPHABET = string.ascii_uppercase + string.digits
# random bytes -> code characters in one C call; the slight bias (256 % 36) is harmless here
_CODE_TABLE = bytes(ord(_CODE_ALPHABET[b % 36]) for b in range(256))
_BRANDS: tuple[tuple[str, float, Decimal], ...] = (
    ("海尔", 0.55, Decimal("1.00")),
    ("卡萨帝", 0.70, Decimal("1.80")),
    ("统帅", 0.88, Decimal("0.80")),
    ("Leader", 1.00, Decimal("0.85")),
)
_DISCOUNT_RATES = tuple(Decimal(r) for r in ("0", "0", "0", "0.02", "0.03", "0.05", "0.08"))
_REBATES = tuple(Decimal(r) for r in ("0", "0", "0", "20", "50", "100"))
_REBATE_TYPES = ("COM", "FHQ", "BF", "DTDBF")
_CUT_TIMES = ("12:00", "16:00", "17:00", "18:00")


def _int(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` without its overhead, which dominates a 100,000-product build."""
    return low + int(rng.random() * (high - low + 1))


def _d(rng: random.Random, n: int) -> str:
    return str(int(rng.random() * 10**n)).zfill(n)


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[int(rng.random() * len(options))]


_Model = Callable[[random.Random], str]
# (product group, lowest and highest supply price in yuan, model number generator)
_GROUPS: tuple[tuple[str, int, int, _Model], ...] = (
    (
        "电热水器",
        599,
        3999,
        lambda r: f"EC{_pick(r, ('50', '60', '80'))}{_d(r, 2)}-{_pick(r, ('HT3', 'MC3', 'JH7'))}",
    ),
    (
        "冰箱",
        1599,
        15999,
        lambda r: f"BCD-{_int(r, 200, 650)}{_pick(r, ('WDPG', 'WGHFD', 'WLHSS'))}",
    ),
    (
        "洗衣机",
        1299,
        9999,
        lambda r: f"EG{_pick(r, ('80', '100', '120'))}{_pick(r, ('MATE6S', 'B08'))}",
    ),
    ("空调", 2199, 12999, lambda r: f"KFR-{_pick(r, ('26', '35', '50', '72'))}GW/{_d(r, 2)}EDS83"),
    ("燃气热水器", 1299, 6999, lambda r: f"JSQ{_pick(r, ('25', '30'))}-{_d(r, 2)}UTS"),
    ("油烟机", 1499, 8999, lambda r: f"CXW-{_int(r, 200, 260)}-E{_d(r, 3)}C10"),
    ("电视", 1999, 19999, lambda r: f"LU{_pick(r, ('55', '65', '75', '85'))}X{_int(r, 1, 9)}"),
    ("冷柜", 999, 4999, lambda r: f"BC/BD-{_int(r, 100, 500)}GHPT"),
    ("洗碗机", 2999, 9999, lambda r: f"EYBW{_d(r, 6)}"),
    ("净水器", 999, 5999, lambda r: f"HRO{_int(r, 4, 9)}H{_d(r, 2)}-{_int(r, 1, 4)}U1"),
)


@dataclass(frozen=True, slots=True)
class SandboxProduct:
    """One product with its price terms and the quirks of how the gateway serialises it."""

    code: str
    model: str
    group: str
    brand: str
    leaflet_count: int
    procurable: bool
    not_procurable_reason: str | None
    supply_price: Decimal | None  # None: no price in force (价格未生效) or not procurable
    discount_rate: Decimal
    rebate_money: Decimal
    rebate_type: str
    invoice_price: Decimal | None
    money_as_text: bool  # money comes as JSON strings for this product, else as numbers
    price_key_absent: bool  # a missing price is an absent key, else an explicit null
    stock_as_list: bool  # stock answers are a list of two warehouses, else one object

    @property
    def has_price(self) -> bool:
        return self.supply_price is not None

    @property
    def image_url(self) -> str:
        # derived, not stored: formatting URLs for 100,000 products would double the build time
        return f"{IMAGE_HOST}/products/{self.code}/main.jpg"

    @property
    def leaflet_urls(self) -> list[str]:
        base = f"{IMAGE_HOST}/products/{self.code}/leaflet-"
        return [f"{base}{i}.jpg" for i in range(1, self.leaflet_count + 1)]


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Stock of one product in one warehouse serving one county."""

    warehouse_code: str
    qty: int
    grade: str  # "0" local warehouse, "1" upper-level warehouse
    cut_time: str
    delivery_days: int
    hours: int
    transfer: bool


class SandboxCatalog:
    """The products of one (seed, size), looked up by code; stock is derived per county."""

    def __init__(self, seed: int, products: tuple[SandboxProduct, ...]) -> None:
        self.seed = seed
        self.products = products
        self._by_code = {p.code: p for p in products}

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[SandboxProduct]:
        return iter(self.products)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> SandboxProduct | None:
        return self._by_code.get(code)

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.products]

    @property
    def procurable(self) -> list[SandboxProduct]:
        return [p for p in self.products if p.procurable]

    def stock(self, code: str, county: str) -> tuple[StockLevel, ...]:
        """Stock for one product and county: two warehouses for list-style products."""
        product = self._by_code[code]
        count = 2 if product.stock_as_list else 1
        return tuple(self._warehouse(code, county, i) for i in range(count))

    def _warehouse(self, code: str, county: str, index: int) -> StockLevel:
        key = f"{self.seed}:{code}:{county}:{index}".encode()
        h = hashlib.blake2b(key, digest_size=8).digest()
        grade = "0" if index == 0 else "1"
        qty = 0 if h[0] < 38 else 1 + h[1] % 60  # about 15 % of answers have nothing in stock
        return StockLevel(
            warehouse_code=f"{county[:4]}{'L' if grade == '0' else 'U'}{h[2] % 90 + 10}",
            qty=qty,
            grade=grade,
            cut_time=_CUT_TIMES[h[3] % len(_CUT_TIMES)],
            delivery_days=1 + h[4] % 3 + index,
            hours=(24, 48, 72)[h[5] % 3],
            transfer=grade == "1" or h[6] % 5 == 0,
        )


def generate_catalog(size: int, seed: int = 42) -> SandboxCatalog:
    """Build ``size`` products from ``seed``; the same arguments give the same catalog."""
    if size < 1:
        raise ValueError(f"catalog size must be at least 1, got {size}")
    rng = random.Random(seed)
    seen: set[str] = set()
    products = []
    for _ in range(size):
        code = _new_code(rng, seen)
        products.append(_product(rng, code))
    return SandboxCatalog(seed, tuple(products))


def _new_code(rng: random.Random, seen: set[str]) -> str:
    while True:
        code = rng.randbytes(9).translate(_CODE_TABLE).decode("ascii")
        if code not in seen:
            seen.add(code)
            return code


def _product(rng: random.Random, code: str) -> SandboxProduct:
    group, low, high, model = _GROUPS[int(rng.random() * len(_GROUPS))]
    brand, multiplier = _brand(rng.random())
    status = rng.random()
    procurable = status >= 0.10
    supply = None
    if status >= 0.15:  # 10 % not procurable, 5 % procurable without a price in force
        supply = (Decimal(_int(rng, low, high) // 10 * 10 - 1) * multiplier).quantize(CENT)
    rate = _DISCOUNT_RATES[int(rng.random() * len(_DISCOUNT_RATES))]
    rebate = _REBATES[int(rng.random() * len(_REBATES))]
    quirks = rng.random()
    return SandboxProduct(
        code=code,
        model=model(rng),
        group=group,
        brand=brand,
        leaflet_count=_int(rng, 1, 4),
        procurable=procurable,
        not_procurable_reason=None if procurable else _pick(rng, NOT_PROCURABLE_REASONS),
        supply_price=supply,
        discount_rate=rate if supply is not None else Decimal(0),
        rebate_money=rebate if supply is not None else Decimal(0),
        rebate_type=_pick(rng, _REBATE_TYPES),
        invoice_price=invoice_price(supply, rate, rebate) if supply is not None else None,
        money_as_text=quirks < 0.35,
        price_key_absent=0.35 <= quirks < 0.6,
        stock_as_list=quirks >= 0.8,
    )


def _brand(draw: float) -> tuple[str, Decimal]:
    for name, cumulative, multiplier in _BRANDS:
        if draw < cumulative:
            return name, multiplier
    return _BRANDS[-1][0], _BRANDS[-1][2]


def invoice_price(supply: Decimal, rate: Decimal, rebate: Decimal) -> Decimal:
    """invoicePrice = supplyPrice × (1 − stockRebatePolicy) − rebateMoney, to the cent."""
    return (supply * (1 - rate) - rebate).quantize(CENT, rounding=ROUND_HALF_UP)
