"""Dagster resources: configuration and authentication, read from environment variables.

Every value comes from an ``EnvVar`` when its variable is set, so the Dagster UI and the run's
stored config show the variable's *name*, never its value. When a variable is unset, the
field gets the contract's default; a required variable left unset gets an empty value and the
resource stops the run at start with one line naming it (``MissingConfiguration``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    DagsterInstance,
    DagsterRunStatus,
    EnvVar,
    Failure,
    InitResourceContext,
    OpExecutionContext,
    RunsFilter,
)

from haier_pipeline.callbacks.receiver import DEFAULT_SPOOL, SPOOL_ENV
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.settings import JshSettings, YlhSettings
from haier_pipeline.haier.validation import COUNTY_CODE, PRODUCT_CODE
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.balance import parse_minimum
from haier_pipeline.storage.warehouse import Warehouse

SANDBOX_URL = "http://127.0.0.1:8765"
_LIVE_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def sandbox_enabled() -> bool:
    return os.environ.get("HAIER_SANDBOX", "") == "1"


def env(name: str, default: str = "") -> Any:
    """``EnvVar(name)`` when the variable is set, else the default ("" marks it missing)."""
    return EnvVar(name) if os.environ.get(name, "") != "" else default


class MissingConfiguration(Failure):
    """A required environment variable is unset; the run stops before any call is made."""

    def __init__(self, variables: list[str]) -> None:
        names = ", ".join(variables)
        super().__init__(
            description=f"missing required environment variable(s): {names}. "
            "Set them (see the README's Configuration table) and launch the run again.",
            allow_retries=False,
        )


def require(resource: ConfigurableResource, fields: dict[str, str]) -> None:
    """Raise one MissingConfiguration naming every unset variable among ``field: VARIABLE``."""
    missing = [var for attr, var in fields.items() if not getattr(resource, attr)]
    if missing:
        raise MissingConfiguration(missing)


class HaierApiResource(ConfigurableResource):
    """The JSH open platform account: OAuth2 client credentials and the customer's passwords."""

    base_url: str
    token_url: str = ""
    client_id: str
    client_secret: str
    customer_code: str
    send_to_code: str = ""
    supplier_code: str = "1001"
    password: str
    seller_password: str = ""
    customer_password: str = ""
    rate_limit: str = "100"
    timeout_s: str = "30"
    max_workers: int = 32

    _REQUIRED: ClassVar[dict[str, str]] = {
        "base_url": "HAIER_BASE_URL",
        "client_id": "HAIER_CLIENT_ID",
        "client_secret": "HAIER_CLIENT_SECRET",
        "customer_code": "HAIER_CUSTOMER_CODE",
        "password": "HAIER_PASSWORD",
    }

    def setup_for_execution(self, context: InitResourceContext) -> None:
        require(self, self._REQUIRED)

    def settings(self) -> JshSettings:
        return JshSettings(
            base_url=self.base_url,
            token_url=self.token_url or None,
            client_id=self.client_id,
            client_secret=self.client_secret,
            customer_code=self.customer_code,
            send_to_code=self.send_to_code or None,
            supplier_code=self.supplier_code,
            password=self.password,
            seller_password=self.seller_password or None,
            customer_password=self.customer_password or None,
            rate_limit=_positive_float("HAIER_RATE_LIMIT", self.rate_limit),
            timeout_s=_positive_float("HAIER_TIMEOUT_S", self.timeout_s),
        )

    @contextlib.contextmanager
    def client(self) -> Iterator[JshClient]:
        with JshClient(self.settings(), max_workers=self.max_workers) as client:
            yield client

    @classmethod
    def from_env(cls) -> HaierApiResource:
        base_default = SANDBOX_URL if sandbox_enabled() else ""
        return cls(
            base_url=env("HAIER_BASE_URL", base_default),
            token_url=env("HAIER_TOKEN_URL"),
            client_id=env("HAIER_CLIENT_ID"),
            client_secret=env("HAIER_CLIENT_SECRET"),
            customer_code=env("HAIER_CUSTOMER_CODE"),
            send_to_code=env("HAIER_SEND_TO_CODE"),
            supplier_code=env("HAIER_SUPPLIER_CODE", "1001"),
            password=env("HAIER_PASSWORD"),
            seller_password=env("HAIER_SELLER_PASSWORD"),
            customer_password=env("HAIER_CUSTOMER_PASSWORD"),
            rate_limit=env("HAIER_RATE_LIMIT", "100"),
            timeout_s=env("HAIER_TIMEOUT_S", "30"),
        )


class CatalogScopeResource(ConfigurableResource):
    """Which products and counties a catalog sync covers."""

    county_codes: str
    product_codes: str = ""

    def counties(self) -> list[str]:
        return _code_list(
            "HAIER_COUNTY_CODES", self.county_codes, COUNTY_CODE, "a 6-digit county code"
        )

    def products(self) -> list[str]:
        return _code_list(
            "HAIER_PRODUCT_CODES", self.product_codes, PRODUCT_CODE, "a 9-character product code"
        )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        require(self, {"county_codes": "HAIER_COUNTY_CODES"})
        self.counties()
        self.products()

    @classmethod
    def from_env(cls) -> CatalogScopeResource:
        return cls(county_codes=env("HAIER_COUNTY_CODES"), product_codes=env("HAIER_PRODUCT_CODES"))


class WarehouseResource(ConfigurableResource):
    """The DuckDB file analysts query (HAIER_DUCKDB_PATH) and the pipeline's working copy."""

    path: str = "data/haier.duckdb"
    lock_timeout_s: float = 120.0

    def warehouse(self, owner: str = "haier-pipeline") -> Warehouse:
        return Warehouse(Path(self.path), owner=owner, lock_timeout_s=self.lock_timeout_s)

    def for_run(self, context: OpExecutionContext | AssetExecutionContext, job: str) -> Warehouse:
        """The run's warehouse, after closing sync_log rows of runs that died (kill -9)."""
        warehouse = self.warehouse(owner=f"run {context.run.run_id} ({job})")
        closed = warehouse.close_interrupted_syncs(_live_run_ids(context.instance))
        if closed:
            context.log.warning(f"closed {closed} sync_log row(s) left open by interrupted runs")
        return warehouse

    @classmethod
    def from_env(cls) -> WarehouseResource:
        return cls(path=env("HAIER_DUCKDB_PATH", "data/haier.duckdb"))


class YlhResource(ConfigurableResource):
    """The YLH order system account (password grant) and how our orders are labelled."""

    base_url: str
    auth_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    source_system: str
    shop_name: str
    rate_limit: str = "100"

    _REQUIRED: ClassVar[dict[str, str]] = {
        "base_url": "YLH_BASE_URL",
        "auth_url": "YLH_AUTH_URL",
        "client_id": "YLH_CLIENT_ID",
        "client_secret": "YLH_CLIENT_SECRET",
        "username": "YLH_USERNAME",
        "password": "YLH_PASSWORD",
        "source_system": "HAIER_SOURCE_SYSTEM",
        "shop_name": "HAIER_SHOP_NAME",
    }

    def setup_for_execution(self, context: InitResourceContext) -> None:
        require(self, self._REQUIRED)

    def settings(self) -> YlhSettings:
        return YlhSettings(
            base_url=self.base_url,
            auth_url=self.auth_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            rate_limit=_positive_float("HAIER_RATE_LIMIT", self.rate_limit),
        )

    @contextlib.contextmanager
    def client(self) -> Iterator[YlhClient]:
        with YlhClient(self.settings()) as client:
            yield client

    @classmethod
    def from_env(cls) -> YlhResource:
        base_default = f"{SANDBOX_URL}/ylh" if sandbox_enabled() else ""
        base = os.environ.get("YLH_BASE_URL") or base_default
        auth_default = f"{base}/ylh-cloud-mgt-auth/oauth/token" if base else ""
        return cls(
            base_url=env("YLH_BASE_URL", base_default),
            auth_url=env("YLH_AUTH_URL", auth_default),
            client_id=env("YLH_CLIENT_ID"),
            client_secret=env("YLH_CLIENT_SECRET"),
            username=env("YLH_USERNAME"),
            password=env("YLH_PASSWORD"),
            source_system=env("HAIER_SOURCE_SYSTEM"),
            shop_name=env("HAIER_SHOP_NAME"),
            rate_limit=env("HAIER_RATE_LIMIT", "100"),
        )


class OrderInboxResource(ConfigurableResource):
    """The folder where shops drop paid orders as JSON files (HAIER_ORDER_INBOX)."""

    path: str = "data/orders/inbox"

    def inbox(self) -> Path:
        return Path(self.path)

    @classmethod
    def from_env(cls) -> OrderInboxResource:
        return cls(path=env("HAIER_ORDER_INBOX", "data/orders/inbox"))


class CallbackSpoolResource(ConfigurableResource):
    """The folder the callback receiver spools verified callbacks into (HAIER_CALLBACK_SPOOL)."""

    path: str = DEFAULT_SPOOL

    def spool(self) -> Path:
        return Path(self.path)

    @classmethod
    def from_env(cls) -> CallbackSpoolResource:
        return cls(path=env(SPOOL_ENV, DEFAULT_SPOOL))


class BalancePolicyResource(ConfigurableResource):
    """The balance below which the account_balance check warns (HAIER_BALANCE_MIN, yuan)."""

    minimum: str = "0"

    def minimum_amount(self) -> Decimal:
        try:
            return parse_minimum(self.minimum)
        except ValueError as error:
            raise Failure(description=str(error), allow_retries=False) from None

    @classmethod
    def from_env(cls) -> BalancePolicyResource:
        return cls(minimum=env("HAIER_BALANCE_MIN", "0"))


def _live_run_ids(instance: DagsterInstance) -> set[str]:
    """Runs that may still be writing: their open sync_log rows are not stale."""
    records = instance.get_run_records(RunsFilter(statuses=_LIVE_STATUSES))
    return {record.dagster_run.run_id for record in records}


def _positive_float(variable: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise Failure(
            description=f"{variable}={text!r} is not a positive number; "
            "set it to e.g. 100 (calls per second) or 30 (seconds).",
            allow_retries=False,
        )
    return value


def _code_list(variable: str, text: str, pattern: re.Pattern[str], what: str) -> list[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in codes if not pattern.fullmatch(c)]
    if bad:
        raise Failure(
            description=f"{variable}: {', '.join(repr(b) for b in bad)} is not {what}; "
            "fix the comma-separated list and launch the run again.",
            allow_retries=False,
        )
    return list(dict.fromkeys(codes))
