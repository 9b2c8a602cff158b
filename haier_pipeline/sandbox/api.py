"""The state every group of sandbox endpoints answers from."""

from __future__ import annotations

from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.sandbox.catalog import SandboxCatalog
from haier_pipeline.sandbox.orders import OrderBook
from haier_pipeline.sandbox.stats import SandboxStats


class Api:
    """One catalog, one account, one order book and the stats the tests read back."""

    def __init__(
        self,
        catalog: SandboxCatalog,
        account: SandboxAccount,
        orders: OrderBook,
        stats: SandboxStats,
    ) -> None:
        self.catalog = catalog
        self.account = account
        self.orders = orders
        self.stats = stats
