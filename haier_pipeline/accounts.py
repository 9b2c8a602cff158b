"""Several Haier accounts in one project: the accounts file, or one account from HAIER_*.

Retailers hold several Haier accounts (sold-to codes per region or company), each with its
own credentials, counties and sometimes its own gateway. ``HAIER_ACCOUNTS_FILE`` names a TOML
file with one table per account (``[accounts.north]``); without it the HAIER_* variables make
one account named ``default``, exactly as before accounts existed.

Each key of an account means what the HAIER_* variable of the same meaning means, and is
checked by that variable's declaration (``environment.py``), so a county code or a URL is
judged the same way wherever it is written. Secrets are never in the file: an account names
the environment variable that holds each one (``password_env = "NORTH_HAIER_PASSWORD"``). The
whole file is checked when it is loaded (at definitions load, before any run): every problem
is one line naming the file, the account, the key and the fix, and no value of a secret is
ever repeated. Values are read from the environment only when a run needs them: a secret
variable that is not set is that account's problem (its runs fail naming it, see
:meth:`Account.unset_secrets`), never a reason to stop loading the other accounts.

No Dagster here: the callback receiver and the tests use this module as it is.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from haier_pipeline import environment as env
from haier_pipeline.environment import SettingError, Variable
from haier_pipeline.haier.settings import JshSettings, YlhSettings
from haier_pipeline.listing import clip

DEFAULT_ACCOUNT = "default"
"""The account the HAIER_* variables make when there is no accounts file."""
ENVIRONMENT = "the HAIER_* variables"
MAX_NAME_CHARS = 64
"""Account names and the variable names of ``*_env`` keys: room for any real name, while a
pasted paragraph (or a 5,000-character name) is refused."""
ACCOUNT_NAME = re.compile(rf"[a-z0-9_]{{1,{MAX_NAME_CHARS}}}")
_VARIABLE = re.compile(r"\b(?:HAIER|YLH)_[A-Z0-9_]+\b")
ENV_NAME = re.compile(r"[A-Z]+[0-9]*(?:_(?:[A-Z]+[0-9]*|[0-9]+))+")
"""What a ``*_env`` value must look like: upper-case words joined by ``_``, each word letters
then digits (NORTH_HAIER_PASSWORD, HAIER_V2_PASSWORD, S3_KEY_2). An access key pasted in its
place (AKIAJ7X2..., letters and digits mixed) does not fit, and what does not fit is never
repeated in a message: it may be a secret."""


class UnsetSecret(SettingError):
    """A variable the accounts file names for a secret is not set; the message is the whole
    line (file, account, key, variable, fix), so it is shown as it is."""


class AccountsFileError(ValueError):
    """The accounts file cannot be used; the message has one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Key:
    """A key an account may set, and the HAIER_* variable of the same meaning.

    A ``secret`` is given as the name of an environment variable (the file key ends in
    ``_env``). An optional key left out falls back to its variable, except where that would
    mix two accounts' credentials or gateways (``falls_back=False``): the account's own
    password, token URL or YLH token URL is then derived as for the HAIER_* variables.
    """

    name: str
    variable: Variable[Any]
    secret: bool = False
    required: bool = False
    falls_back: bool = True
    kind: type = str

    @property
    def file_key(self) -> str:
        return f"{self.name}_env" if self.secret else self.name


KEYS: tuple[Key, ...] = (
    Key("customer_code", env.HAIER_CUSTOMER_CODE, required=True),
    Key("send_to_code", env.HAIER_SEND_TO_CODE),
    Key("supplier_code", env.HAIER_SUPPLIER_CODE),
    Key("county_codes", env.HAIER_COUNTY_CODES, required=True, kind=list),
    Key("product_codes", env.HAIER_PRODUCT_CODES, kind=list),
    Key("base_url", env.HAIER_BASE_URL),
    Key("token_url", env.HAIER_TOKEN_URL, falls_back=False),
    Key("rate_limit", env.HAIER_RATE_LIMIT, kind=float),
    Key("timeout_s", env.HAIER_TIMEOUT_S, kind=float),
    Key("client_id", env.HAIER_CLIENT_ID, secret=True, required=True),
    Key("client_secret", env.HAIER_CLIENT_SECRET, secret=True, required=True),
    Key("password", env.HAIER_PASSWORD, secret=True, required=True),
    Key("seller_password", env.HAIER_SELLER_PASSWORD, secret=True, falls_back=False),
    Key("customer_password", env.HAIER_CUSTOMER_PASSWORD, secret=True, falls_back=False),
    Key("ylh_base_url", env.YLH_BASE_URL),
    Key("ylh_auth_url", env.YLH_AUTH_URL, falls_back=False),
    Key("ylh_client_id", env.YLH_CLIENT_ID, secret=True),
    Key("ylh_client_secret", env.YLH_CLIENT_SECRET, secret=True),
    Key("ylh_username", env.YLH_USERNAME, secret=True),
    Key("ylh_password", env.YLH_PASSWORD, secret=True),
    Key("source_system", env.HAIER_SOURCE_SYSTEM),
    Key("shop_name", env.HAIER_SHOP_NAME),
    Key("callback_app_key", env.HAIER_CALLBACK_APP_KEY),
    Key("callback_secret", env.HAIER_CALLBACK_SECRET, secret=True),
)
_BY_NAME = {key.name: key for key in KEYS}
_BY_FILE_KEY = {key.file_key: key for key in KEYS}
_DERIVED_FROM = {"token_url": "base_url", "ylh_auth_url": "ylh_base_url"}
"""A URL left out is derived from the account's own base URL when it sets one."""


@dataclass(frozen=True)
class Account:
    """One Haier account: its name, where it was declared, and where each setting comes from.

    ``given`` holds the texts written in the file (already checked); ``env_names`` the
    environment variables named for secrets. Everything else falls back to HAIER_*.
    """

    name: str
    origin: str = ENVIRONMENT
    given: Mapping[str, str] = field(default_factory=dict)
    env_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def from_environment(self) -> bool:
        """The account the HAIER_* variables make (no accounts file)."""
        return self.origin == ENVIRONMENT

    def variable(self, name: str) -> str:
        """Where this account's setting ``name`` (a key: ``seller_password``) is set, as its
        operator must be told: the variable its ``*_env`` key names (its own password for
        the seller and customer passwords it leaves out), the key of its table in the
        accounts file, or the HAIER_*/YLH_* variable it falls back to (``default``: always).
        The one place messages about an account get their names from."""
        key = _BY_NAME[name]
        if name in self.given:
            return f"[accounts.{self.name}] {key.file_key}"
        if name in self.env_names:
            return self.env_names[name]
        own_password = self.env_names.get("password")
        if name in ("seller_password", "customer_password") and own_password:
            return own_password
        return key.variable.name

    def variables(self, names: Sequence[str]) -> str:
        """:meth:`variable` of each setting, as a list in a sentence ("A, B and C")."""
        told = [self.variable(name) for name in names]
        return f"{', '.join(told[:-1])} and {told[-1]}" if len(told) > 1 else "".join(told)

    def variable_names(self) -> dict[str, str]:
        """HAIER_*/YLH_* variable -> where this account's value is set instead
        (:meth:`variable`), so a message written with the HAIER_* names can be told in this
        account's."""
        names = {key.variable.name: self.variable(key.name) for key in KEYS}
        return {haier: own for haier, own in names.items() if haier != own}

    def in_own_names(self, text: str) -> str:
        """``text`` with each HAIER_*/YLH_* variable it names told as this account's."""
        names = self.variable_names()
        return _VARIABLE.sub(lambda found: names.get(found[0], found[0]), text)

    def value(self, name: str) -> Any:
        """A setting as a typed value, read now; SettingError (one line) when unusable."""
        variable, text = self._source(name)
        if name in self.env_names and variable.missing(text):
            raise UnsetSecret(self._unset_line(_BY_NAME[name]))
        return variable.value(text)

    def unset_secrets(self) -> list[str]:
        """One line per variable this account names for a secret that is not set now.

        Checked when a run of this account starts (and by check_connection), not when the
        definitions load: one account's missing secret fails that account's runs only."""
        return [
            self._unset_line(_BY_NAME[name])
            for name, variable in self.env_names.items()
            if not os.environ.get(variable, "").strip()
        ]

    def require_secrets(self) -> None:
        """UnsetSecret naming every secret variable of this account that is not set."""
        lines = self.unset_secrets()
        if lines:
            raise UnsetSecret("\n".join(lines))

    def _unset_line(self, key: Key) -> str:
        name = self.env_names[key.name]
        return (
            f"{self.origin}: account {self.name!r}, key {key.file_key!r}: names {name}, which "
            f"is not set; export {name} ({key.variable.meaning})."
        )

    def _source(self, name: str) -> tuple[Variable[Any], str]:
        key = _BY_NAME[name]
        if name in self.given:
            return key.variable, self.given[name]
        if name in self.env_names:
            variable = dataclasses.replace(
                key.variable, name=self.env_names[name], default="", required=True
            )
            return variable, variable.text()
        if self.from_environment or key.falls_back:
            return key.variable, key.variable.text()
        base = _DERIVED_FROM.get(name)
        if base is None or base in self.given:  # derived from the account's own setting
            return dataclasses.replace(key.variable, required=False), ""
        return key.variable, key.variable.text()  # no own base URL: HAIER_*'s pair applies

    def jsh_settings(self) -> JshSettings:
        """Settings of the JSH open platform for this account."""
        return JshSettings(
            base_url=self.value("base_url"),
            token_url=self.value("token_url") or None,
            client_id=self.value("client_id"),
            client_secret=self.value("client_secret"),
            customer_code=self.value("customer_code"),
            send_to_code=self.value("send_to_code") or None,
            supplier_code=self.value("supplier_code"),
            password=self.value("password"),
            seller_password=self.value("seller_password") or None,
            customer_password=self.value("customer_password") or None,
            rate_limit=self.value("rate_limit"),
            timeout_s=self.value("timeout_s"),
        )

    def ylh_settings(self) -> YlhSettings:
        """Settings of the YLH order system for this account (YLH_* when not its own)."""
        auth_url = self.value("ylh_auth_url")
        if not auth_url:
            auth_url = f"{self.value('ylh_base_url').rstrip('/')}/ylh-cloud-mgt-auth/oauth/token"
        return YlhSettings(
            base_url=self.value("ylh_base_url"),
            auth_url=auth_url,
            client_id=self.value("ylh_client_id"),
            client_secret=self.value("ylh_client_secret"),
            username=self.value("ylh_username"),
            password=self.value("ylh_password"),
            rate_limit=self.value("rate_limit"),
            timeout_s=self.value("timeout_s"),
        )

    def county_codes(self) -> list[str]:
        return list(self.value("county_codes"))

    def product_codes(self) -> list[str]:
        return list(self.value("product_codes"))

    def callback_credentials(self) -> tuple[str, str]:
        """The AppKey Haier sends in this account's callbacks, and their signing secret."""
        return self.value("callback_app_key"), self.value("callback_secret")


def load_accounts(path: str | None = None) -> tuple[Account, ...]:
    """The accounts of this project: those of the accounts file ``path`` (default:
    HAIER_ACCOUNTS_FILE), or ``default`` from HAIER_* when there is none.

    Raises AccountsFileError listing every problem of the file, one line each.
    """
    text = env.HAIER_ACCOUNTS_FILE.text() if path is None else path
    try:
        resolved = env.HAIER_ACCOUNTS_FILE.value(text)
    except SettingError as problem:
        raise AccountsFileError([str(problem)]) from None
    if resolved is None:
        return (Account(DEFAULT_ACCOUNT),)
    return parse_accounts(str(resolved), _read(str(resolved)))


def account_names(accounts: Sequence[Account]) -> list[str]:
    return [account.name for account in accounts]


def find_account(accounts: Sequence[Account], name: str) -> Account:
    """The account called ``name``; a SettingError listing the accounts otherwise."""
    for account in accounts:
        if account.name == name:
            return account
    raise SettingError(
        f"no Haier account is called {name!r}; the accounts are "
        f"{', '.join(account_names(accounts))} (see HAIER_ACCOUNTS_FILE)."
    )


T = TypeVar("T")


@dataclass(frozen=True)
class EachAccount(Generic[T]):
    """What one piece of work did for each account: its result, or the error that stopped it."""

    done: dict[str, T]
    failed: dict[str, BaseException]


def for_each_account(names: Sequence[str], work: Callable[[str], T]) -> EachAccount[T]:
    """Run ``work`` for every account side by side, each on its own thread.

    One account's failure (a wrong password, its gateway down, its calls timing out) neither
    stops nor delays another's: each runs to its end, and the caller learns every outcome
    only when all are done. Exceptions (not KeyboardInterrupt) are collected, not raised.
    """
    with ThreadPoolExecutor(max(1, len(names)), thread_name_prefix="account") as pool:
        futures = {name: pool.submit(work, name) for name in names}
    done: dict[str, T] = {}
    failed: dict[str, BaseException] = {}
    for name, future in futures.items():
        error = future.exception()
        if error is None:
            done[name] = future.result()
        elif isinstance(error, Exception):
            failed[name] = error
        else:
            raise error
    return EachAccount(done, failed)


def _read(path: str) -> dict[str, Any]:
    where = f"HAIER_ACCOUNTS_FILE={path!r}"
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problem = "names no file; point it at the accounts file, or unset it for one account"
    except IsADirectoryError:
        problem = "is a folder; point it at the accounts file (TOML) in it"
    except OSError as error:
        problem = f"cannot be read ({error.strerror}); fix its permissions"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text; save it as UTF-8"
    except tomllib.TOMLDecodeError as error:
        raise AccountsFileError([_toml_problem(path, error)]) from None
    raise AccountsFileError([f"{where} {problem}."])


_TWICE = re.compile(r"Cannot declare \('accounts', '([^']*)'\) twice")


def _toml_problem(path: str, error: tomllib.TOMLDecodeError) -> str:
    duplicate = _TWICE.search(str(error))
    if duplicate:
        # tomllib quotes the name; a bad one is not repeated (see _parse_account).
        name = repr(duplicate[1]) if ACCOUNT_NAME.fullmatch(duplicate[1]) else "(not shown)"
        where = str(error)[duplicate.end() :].strip() or "(twice)"
        return (
            f"{path}: account {name} is declared twice {where}; give each account "
            "one [accounts.<name>] table with a name of its own."
        )
    return f"{path}: not valid TOML ({error}); fix the file (see examples/accounts.toml)."


def parse_accounts(path: str, data: Mapping[str, Any]) -> tuple[Account, ...]:
    """The accounts of a parsed file, or AccountsFileError with every problem found."""
    problems = [
        f"{path}: unknown top-level key {name!r}; the file holds only [accounts.<name>] tables."
        for name in data
        if name != "accounts"
    ]
    tables = data.get("accounts")
    if not isinstance(tables, dict) or not tables:
        problems.append(
            f"{path}: no account is declared; add one table per account, e.g. [accounts.north] "
            "(see examples/accounts.toml)."
        )
        raise AccountsFileError(problems)
    accounts = []
    for number, (name, table) in enumerate(tables.items(), start=1):
        account, found = _parse_account(path, name, table, number)
        problems += found
        accounts.append(account)
    if not problems:
        problems = _rates_per_client_id(path, accounts)
    if problems:
        raise AccountsFileError(problems)
    return tuple(accounts)


def _rates_per_client_id(path: str, accounts: Sequence[Account]) -> list[str]:
    """Accounts sharing a client_id must set one rate_limit: Haier counts one limit per
    client_id, and that client_id's call budget (``haier/budget.py``) keeps one rate."""
    problems = []
    for key in ("client_id", "ylh_client_id"):
        first: dict[str, tuple[str, float]] = {}
        for account in accounts:
            try:
                client_id, rate = account.value(key), account.value("rate_limit")
            except SettingError:
                continue  # said where the value is used
            name, other = first.setdefault(client_id, (account.name, rate))
            if client_id and other != rate:
                problems.append(
                    f"{path}: accounts {name!r} and {account.name!r} share a {key} (not shown) "
                    f"but set rate_limit {other:g} and {rate:g}; Haier counts one limit per "
                    f"{key}, so give both the same rate_limit."
                )
    return problems


def _parse_account(path: str, name: str, table: Any, number: int) -> tuple[Account, list[str]]:
    """A bad name is never repeated (a secret may have been pasted there): the account is
    then named by its place in the file, and examples use a neutral name."""
    problems = []
    if ACCOUNT_NAME.fullmatch(name):
        where, example = f"{path}: account {name!r}", name
    else:
        where, example = f"{path}: account #{number}", "north"
        problems.append(
            f"{where}: the name is not lower-case letters, digits and _ only, at most "
            f"{MAX_NAME_CHARS} characters (it is not shown, in case a secret was pasted "
            "there); rename its table, e.g. [accounts.north]."
        )
    if not isinstance(table, dict):
        problems.append(f"{where} is not a table; write it as [accounts.{example}] with its keys.")
        return Account(name, path), problems
    given: dict[str, str] = {}
    env_names: dict[str, str] = {}
    for file_key, raw in table.items():
        problem = _take(example, file_key, raw, given, env_names)
        if problem:
            problems.append(f"{where}, key {file_key!r}: {problem}")
    for key in KEYS:
        if key.required and key.file_key not in table and key.name not in table:
            problems.append(
                f"{where}, key {key.file_key!r}: missing; add {key.file_key} = "
                f"{_example(example, key)} ({key.variable.meaning})."
            )
    return Account(name, path, given, env_names), problems


def _take(
    account: str, file_key: str, raw: Any, given: dict[str, str], env_names: dict[str, str]
) -> str:
    """Check one key and record it; returns the problem (without the where) or ''."""
    if file_key in _BY_NAME and _BY_NAME[file_key].secret:
        return (
            "a secret may not be written into the accounts file (its value is not shown); "
            "delete the line, put the secret in an environment variable and name it with "
            f"{file_key}_env = {_example(account, _BY_NAME[file_key])}."
        )
    key = _BY_FILE_KEY.get(file_key)
    if key is None:
        close = difflib.get_close_matches(file_key, list(_BY_FILE_KEY), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see examples/accounts.toml"
        return f"unknown key; remove it ({hint})."
    if key.secret:
        return _take_env_name(account, key, raw, env_names)
    text, problem = _as_text(key, raw)
    if problem:
        return problem
    try:
        key.variable.parse(text)
    except ValueError as error:
        shown = key.variable.shown(text) if key.kind is str else clip(repr(raw), 60)
        return f"{shown} {error}; fix it ({key.variable.meaning})."
    given[key.name] = text
    return ""


def _take_env_name(account: str, key: Key, raw: Any, env_names: dict[str, str]) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_NAME_CHARS or not ENV_NAME.fullmatch(raw):
        return (
            "is not the name of an environment variable (upper-case words joined by _, each "
            f"letters then digits, at most {MAX_NAME_CHARS} characters; the value is not shown, "
            "in case it is the secret itself); write the variable's name, e.g. "
            f"{key.file_key} = {_example(account, key)}, and export the secret in it."
        )
    env_names[key.name] = raw  # whether it is set is checked when a run needs it
    return ""


def _as_text(key: Key, raw: Any) -> tuple[str, str]:
    """The text the HAIER_* variable would hold for this TOML value, or the problem."""
    if key.kind is list:
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return ",".join(raw), ""
        return "", 'must be a list of strings in quotes, e.g. ["110101", "320106"].'
    if key.kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return str(raw), ""
        return "", "must be a number without quotes, e.g. 100."
    if isinstance(raw, str):
        return raw, ""
    return "", f'must be text in quotes, e.g. {key.file_key} = "{clip(str(raw), 60)}".'


def _example(account: str, key: Key) -> str:
    """An example value for a key, in TOML."""
    if key.secret:
        return f'"{_suggest_name(account).upper()}_{key.variable.name}"'
    if key.kind is list:
        return '["110101"]' if key.name == "county_codes" else "[]"
    return "100" if key.kind is float else '"..."'


def _suggest_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower()) or "north"
