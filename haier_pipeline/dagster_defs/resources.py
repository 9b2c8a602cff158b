"""Dagster resources: configuration and authentication, read from environment variables.

Each field is declared with the :class:`~haier_pipeline.environment.Variable` it comes from
(``Annotated[str, VARIABLE]``); that declaration holds the variable's name, default and check,
so a setting is named once. When a variable is set, the field holds an ``EnvVar``, so the
Dagster UI and the run's stored config show the variable's *name*, never its value. Values are
checked when a run starts: a missing or unusable one stops the run with one line naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    EnvVar,
    Failure,
    InitResourceContext,
    OpExecutionContext,
)

from haier_pipeline import environment as env
from haier_pipeline.accounts import (
    Account,
    AccountsFileError,
    account_names,
    find_account,
    load_accounts,
)
from haier_pipeline.environment import SettingError, Variable, missing_message
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.settings import JshSettings, YlhSettings
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.model import OrderDefaults
from haier_pipeline.storage.warehouse import Warehouse

T = TypeVar("T")


def _config_value(variable: Variable[Any]) -> Any:
    """``EnvVar(name)`` when the variable is set, else its default text ("" when none)."""
    if os.environ.get(variable.name, "").strip():
        return EnvVar(variable.name)
    return variable.default_text()


class EnvResource(ConfigurableResource):
    """A resource whose ``Annotated[str, VARIABLE]`` fields come from environment variables."""

    @classmethod
    def variables(cls) -> dict[str, Variable[Any]]:
        """Field name -> the Variable it is declared with."""
        found = {}
        for name, info in cls.model_fields.items():
            declared = [m for m in info.metadata if isinstance(m, Variable)]
            if declared:
                found[name] = declared[0]
        return found

    @classmethod
    def from_env(cls) -> Any:
        return cls(**{name: _config_value(var) for name, var in cls.variables().items()})

    per_account: ClassVar[bool] = False
    """Settings an accounts file gives per account: with one, the variables are fallbacks
    only, checked when an account needs them (``Account.value``), not at run start."""

    @classmethod
    def from_env_now(cls) -> Any:
        """Built from the variables' current text, for an optional resource an op builds
        itself (Dagster resolves ``EnvVar`` fields only for the resources it initialises)."""
        return cls(**{name: var.text() for name, var in cls.variables().items()})

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if not (self.per_account and env.HAIER_ACCOUNTS_FILE.text().strip()):
            self.values()

    def values(self) -> dict[str, Any]:
        """Every declared field as its typed value; a Failure of one line names what is wrong."""
        declared = self.variables()
        missing = [var.name for name, var in declared.items() if var.missing(getattr(self, name))]
        if missing:
            raise Failure(description=missing_message(missing), allow_retries=False)
        try:
            return {name: var.value(getattr(self, name)) for name, var in declared.items()}
        except SettingError as problem:
            raise Failure(description=str(problem), allow_retries=False) from None


def _of_account(account: Account | None, read: Callable[[], T]) -> T:
    """An account's setting, or a Failure of one line naming the account and the problem."""
    try:
        return read()
    except SettingError as problem:
        where = f"account {account.name} ({account.origin}): " if account else ""
        raise Failure(description=f"{where}{problem}", allow_retries=False) from None


def _fields_of(settings_class: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(settings_class)}
    return {name: value for name, value in values.items() if name in names}


class HaierApiResource(EnvResource):
    """The JSH open platform account: OAuth2 client credentials and the customer's passwords."""

    per_account = True

    base_url: Annotated[str, env.HAIER_BASE_URL] = ""
    token_url: Annotated[str, env.HAIER_TOKEN_URL] = ""
    client_id: Annotated[str, env.HAIER_CLIENT_ID] = ""
    client_secret: Annotated[str, env.HAIER_CLIENT_SECRET] = ""
    customer_code: Annotated[str, env.HAIER_CUSTOMER_CODE] = ""
    send_to_code: Annotated[str, env.HAIER_SEND_TO_CODE] = ""
    supplier_code: Annotated[str, env.HAIER_SUPPLIER_CODE] = "1001"
    password: Annotated[str, env.HAIER_PASSWORD] = ""
    seller_password: Annotated[str, env.HAIER_SELLER_PASSWORD] = ""
    customer_password: Annotated[str, env.HAIER_CUSTOMER_PASSWORD] = ""
    rate_limit: Annotated[str, env.HAIER_RATE_LIMIT] = "100"
    timeout_s: Annotated[str, env.HAIER_TIMEOUT_S] = "30"
    max_workers: int = 32
    """Haier calls in flight at once: enough that the rate limit, not latency, sets the pace."""

    def settings(self, account: Account | None = None) -> JshSettings:
        """This resource's settings, or those of an account of the accounts file."""
        if account is None or account.from_environment:
            return JshSettings(**_fields_of(JshSettings, self.values()))
        return _of_account(account, account.jsh_settings)

    @contextlib.contextmanager
    def client(self, account: Account | None = None) -> Iterator[JshClient]:
        with JshClient(self.settings(account), max_workers=self.max_workers) as client:
            yield client


class CatalogScopeResource(EnvResource):
    """Which products and counties a catalog sync covers."""

    per_account = True

    county_codes: Annotated[str, env.HAIER_COUNTY_CODES] = ""
    product_codes: Annotated[str, env.HAIER_PRODUCT_CODES] = ""

    def counties(self, account: Account | None = None) -> list[str]:
        if account is None or account.from_environment:
            return list(self.values()["county_codes"])
        return _of_account(account, account.county_codes)

    def products(self, account: Account | None = None) -> list[str]:
        if account is None or account.from_environment:
            return list(self.values()["product_codes"])
        return _of_account(account, account.product_codes)


class AccountsResource(EnvResource):
    """The Haier accounts (HAIER_ACCOUNTS_FILE; without it, ``default`` from HAIER_*).

    A partitioned run serves the account its partition names; a run that names none serves
    every account. The file was checked when the definitions loaded; it is read again here
    so that a run uses the file as it is when it starts.
    """

    file: Annotated[str, env.HAIER_ACCOUNTS_FILE] = ""

    def accounts(self) -> tuple[Account, ...]:
        try:
            return load_accounts(self.file)
        except AccountsFileError as problem:
            raise Failure(description=str(problem), allow_retries=False) from None

    def for_run(self, context: OpExecutionContext | AssetExecutionContext) -> list[Account]:
        """The partition's account, or every account when the run names no partition."""
        accounts = self.accounts()
        if not context.has_partition_key:
            return list(accounts)
        return [_of_account(None, lambda: find_account(accounts, context.partition_key))]

    def names(self) -> list[str]:
        return account_names(self.accounts())

    def chosen(self, name: str) -> Account:
        """The account a launch form names; empty names the only account there is."""
        accounts = self.accounts()
        if name.strip():
            return _of_account(None, lambda: find_account(accounts, name.strip()))
        if len(accounts) == 1:
            return accounts[0]
        raise Failure(
            description=f"several accounts are configured ({', '.join(account_names(accounts))})"
            "; set account in the launch config to the order's account.",
            allow_retries=False,
        )


class WarehouseResource(EnvResource):
    """The DuckDB file analysts query (HAIER_DUCKDB_PATH) and the pipeline's working copy."""

    path: Annotated[str, env.HAIER_DUCKDB_PATH] = "data/haier.duckdb"
    lock_timeout_s: float = 120.0

    def warehouse(self, owner: str = "haier-pipeline") -> Warehouse:
        return Warehouse(Path(self.path), owner=owner, lock_timeout_s=self.lock_timeout_s)

    @contextlib.contextmanager
    def for_run(
        self, context: OpExecutionContext | AssetExecutionContext, job: str
    ) -> Iterator[Warehouse]:
        """The run's warehouse, claimed for the run while the step lasts, after closing the
        sync_log rows of runs that died (kill -9). Every job that writes sync_log rows goes
        through here, so every one proves it is alive the same way (``Warehouse.run_claim``)."""
        warehouse = self.warehouse(owner=f"run {context.run.run_id} ({job})")
        with warehouse.run_claim(context.run.run_id):
            closed = warehouse.close_interrupted_syncs()
            if closed:
                context.log.warning(
                    f"closed {closed} sync_log row(s) left open by interrupted runs"
                )
            yield warehouse


class YlhResource(EnvResource):
    """The YLH order system account (password grant) and how our orders are labelled."""

    per_account = True

    base_url: Annotated[str, env.YLH_BASE_URL] = ""
    auth_url: Annotated[str, env.YLH_AUTH_URL] = ""
    client_id: Annotated[str, env.YLH_CLIENT_ID] = ""
    client_secret: Annotated[str, env.YLH_CLIENT_SECRET] = ""
    username: Annotated[str, env.YLH_USERNAME] = ""
    password: Annotated[str, env.YLH_PASSWORD] = ""
    source_system: Annotated[str, env.HAIER_SOURCE_SYSTEM] = ""
    shop_name: Annotated[str, env.HAIER_SHOP_NAME] = ""
    rate_limit: Annotated[str, env.HAIER_RATE_LIMIT] = "100"
    timeout_s: Annotated[str, env.HAIER_TIMEOUT_S] = "30"

    def settings(self, account: Account | None = None) -> YlhSettings:
        """This resource's settings, or those of an account of the accounts file."""
        if account is None or account.from_environment:
            return YlhSettings(**_fields_of(YlhSettings, self.values()))
        return _of_account(account, account.ylh_settings)

    def order_defaults(self, haier: HaierApiResource, account: Account) -> OrderDefaults:
        """sourceSystem, shopName and sellerCode an account's order files may leave out."""
        if account.from_environment:
            return OrderDefaults(self.source_system, self.shop_name, haier.customer_code)
        return _of_account(
            account,
            lambda: OrderDefaults(
                account.value("source_system"),
                account.value("shop_name"),
                account.value("customer_code"),
            ),
        )

    @contextlib.contextmanager
    def client(self, account: Account | None = None) -> Iterator[YlhClient]:
        with YlhClient(self.settings(account)) as client:
            yield client


class OrderInboxResource(EnvResource):
    """The folder where shops drop paid orders as JSON files (HAIER_ORDER_INBOX)."""

    path: Annotated[str, env.HAIER_ORDER_INBOX] = "data/orders/inbox"

    def inbox(self) -> Path:
        return Path(self.path)


class CallbackSpoolResource(EnvResource):
    """The folder the callback receiver spools verified callbacks into (HAIER_CALLBACK_SPOOL)."""

    path: Annotated[str, env.HAIER_CALLBACK_SPOOL] = "data/callbacks"

    def spool(self) -> Path:
        return Path(self.path)


class BalancePolicyResource(EnvResource):
    """The balance below which the account_balance check warns (HAIER_BALANCE_MIN, yuan)."""

    minimum: Annotated[str, env.HAIER_BALANCE_MIN] = "0"

    def minimum_amount(self) -> Decimal:
        return Decimal(self.values()["minimum"])
