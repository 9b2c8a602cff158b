"""The accounts file: one account from HAIER_* without it, and every mistake in it named."""

from __future__ import annotations

from pathlib import Path

import pytest

from haier_pipeline.accounts import (
    DEFAULT_ACCOUNT,
    AccountsFileError,
    UnsetSecret,
    find_account,
    load_accounts,
)
from haier_pipeline.environment import SettingError

EXAMPLE = Path(__file__).parents[1] / "examples" / "accounts.toml"

NORTH = """
[accounts.north]
customer_code = "8800633175"
county_codes = ["110101", "320106"]
base_url = "http://127.0.0.1:9001"
client_id_env = "NORTH_HAIER_CLIENT_ID"
client_secret_env = "NORTH_HAIER_CLIENT_SECRET"
password_env = "NORTH_HAIER_PASSWORD"
"""


@pytest.fixture
def north_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NORTH_HAIER_CLIENT_ID", "north-id")
    monkeypatch.setenv("NORTH_HAIER_CLIENT_SECRET", "north-secret")
    monkeypatch.setenv("NORTH_HAIER_PASSWORD", "north-pw")


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(path))
    return path


def _problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    _load(tmp_path, monkeypatch, text)
    with pytest.raises(AccountsFileError) as raised:
        load_accounts()
    assert str(raised.value).splitlines() == raised.value.problems
    return raised.value.problems


def test_without_a_file_the_haier_variables_make_one_account_called_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HAIER_ACCOUNTS_FILE", raising=False)
    for name, value in {
        "HAIER_BASE_URL": "http://127.0.0.1:9",
        "HAIER_CLIENT_ID": "id",
        "HAIER_CLIENT_SECRET": "secret",
        "HAIER_CUSTOMER_CODE": "8800000001",
        "HAIER_PASSWORD": "a-password",
        "HAIER_COUNTY_CODES": "110101",
    }.items():
        monkeypatch.setenv(name, value)
    [account] = load_accounts()
    assert account.name == DEFAULT_ACCOUNT and account.from_environment
    settings = account.jsh_settings()
    assert (settings.client_id, settings.customer_code, settings.rate_limit) == (
        "id",
        "8800000001",
        100.0,
    )
    assert account.county_codes() == ["110101"]


def test_an_account_takes_its_own_settings_and_falls_back_to_haier_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    monkeypatch.setenv("HAIER_RATE_LIMIT", "40")
    monkeypatch.setenv("HAIER_TOKEN_URL", "http://127.0.0.1:9/other-gateway/token")
    monkeypatch.setenv("HAIER_CALLBACK_APP_KEY", "shared-key")
    monkeypatch.setenv("HAIER_CALLBACK_SECRET", "shared-secret")
    _load(tmp_path, monkeypatch, NORTH)
    [north] = load_accounts()
    settings = north.jsh_settings()
    assert (settings.client_id, settings.client_secret, settings.password) == (
        "north-id",
        "north-secret",
        "north-pw",
    )
    assert settings.rate_limit == 40.0  # HAIER_RATE_LIMIT: the file leaves it out
    # Its own gateway: the token URL follows it, never the other gateway's HAIER_TOKEN_URL.
    assert settings.effective_token_url == "http://127.0.0.1:9001/oauth2/auth"
    # Its other passwords are its own password, never HAIER_SELLER_PASSWORD.
    monkeypatch.setenv("HAIER_SELLER_PASSWORD", "default-account-seller-pw")
    assert north.jsh_settings().effective_seller_password == "north-pw"
    assert north.county_codes() == ["110101", "320106"] and north.product_codes() == []
    assert north.callback_credentials() == ("shared-key", "shared-secret")


def test_per_account_ylh_and_callback_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    monkeypatch.setenv("N_YLH_ID", "n-ylh")
    monkeypatch.setenv("N_YLH_SECRET", "n-ylh-secret")
    monkeypatch.setenv("N_YLH_USER", "n-user")
    monkeypatch.setenv("N_YLH_PW", "n-ylh-pw")
    monkeypatch.setenv("N_CALLBACK_SECRET", "n-cb-secret")
    _load(
        tmp_path,
        monkeypatch,
        NORTH
        + 'ylh_base_url = "http://127.0.0.1:9001/ylh"\n'
        + 'ylh_client_id_env = "N_YLH_ID"\nylh_client_secret_env = "N_YLH_SECRET"\n'
        + 'ylh_username_env = "N_YLH_USER"\nylh_password_env = "N_YLH_PW"\n'
        + 'callback_app_key = "north-app"\ncallback_secret_env = "N_CALLBACK_SECRET"\n',
    )
    [north] = load_accounts()
    ylh = north.ylh_settings()
    assert (ylh.client_id, ylh.username, ylh.password) == ("n-ylh", "n-user", "n-ylh-pw")
    assert ylh.auth_url == "http://127.0.0.1:9001/ylh/ylh-cloud-mgt-auth/oauth/token"
    assert north.callback_credentials() == ("north-app", "n-cb-secret")


def test_the_shipped_example_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("NORTH", "SOUTH"):
        for name in ("CLIENT_ID", "CLIENT_SECRET", "PASSWORD"):
            monkeypatch.setenv(f"{prefix}_HAIER_{name}", "x")
    monkeypatch.setenv("SOUTH_HAIER_SELLER_PASSWORD", "x")
    monkeypatch.setenv("SOUTH_HAIER_CALLBACK_SECRET", "x")
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(EXAMPLE))
    assert [a.name for a in load_accounts()] == ["north", "south"]


@pytest.mark.parametrize("key", ["password", "client_secret", "ylh_password", "callback_secret"])
def test_a_secret_written_as_a_value_is_refused_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, key: str
) -> None:
    secret = "Hunter2-never-print-me"
    [line] = _problems(tmp_path, monkeypatch, NORTH + f'{key} = "{secret}"\n')
    path = tmp_path / "accounts.toml"
    assert line.startswith(f"{path}: account 'north', key '{key}': a secret may not be written")
    assert f"{key}_env = " in line
    assert secret not in line


def test_every_problem_of_a_bad_file_is_one_line_naming_account_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    text = NORTH + (
        "\n[accounts.South-1]\n"
        "customer_code = 8800633175\n"
        'county_codes = ["11010"]\n'
        'client_id_env = "hunter2 is my password"\n'
        'client_secret_env = "SOUTH_SECRET_NOT_SET"\n'
        'pasword_env = "X"\n'
        'rate_limit = "fast"\n'
    )
    problems = _problems(tmp_path, monkeypatch, text)
    where = f"{tmp_path / 'accounts.toml'}: account #2"
    expected = {
        f"{where}: the name is not lower-case letters",
        f"{where}, key 'customer_code': must be text in quotes",
        f"{where}, key 'county_codes': ['11010'] holds '11010', not a 6-digit county code",
        f"{where}, key 'client_id_env': is not the name of an environment variable",
        f"{where}, key 'pasword_env': unknown key; remove it (did you mean 'password_env'?)",
        f"{where}, key 'rate_limit': must be a number",
        f"{where}, key 'password_env': missing; add password_env = \"NORTH_HAIER_PASSWORD\"",
    }
    assert len(problems) == len(expected)
    for start in expected:
        assert sum(line.startswith(start) for line in problems) == 1, start
    assert not any("hunter2" in line for line in problems)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        (NORTH + NORTH, "account 'north' is declared twice"),
        ("accounts = 3\n", "no account is declared"),
        ("", "no account is declared"),
        ("[accounts.north\n", "not valid TOML"),
        (NORTH + "[other]\nx = 1\n", "unknown top-level key 'other'"),
    ],
)
def test_a_file_that_is_no_accounts_file_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, text: str, start: str
) -> None:
    [line] = _problems(tmp_path, monkeypatch, text)
    assert line.startswith(f"{tmp_path / 'accounts.toml'}: {start}")


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(AccountsFileError, match=r"^HAIER_ACCOUNTS_FILE='.*nope.toml' names no"):
        load_accounts()


def test_a_secret_variable_that_is_not_set_is_that_accounts_problem_not_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    monkeypatch.delenv("NORTH_HAIER_PASSWORD")
    path = _load(tmp_path, monkeypatch, NORTH)
    [north] = load_accounts()  # the file itself is fine
    line = (
        f"{path}: account 'north', key 'password_env': names NORTH_HAIER_PASSWORD, which is "
        "not set; export NORTH_HAIER_PASSWORD (the account password (passWord))."
    )
    assert north.unset_secrets() == [line]
    with pytest.raises(UnsetSecret) as raised:
        north.require_secrets()
    assert str(raised.value) == line


def test_a_variable_unset_after_load_fails_the_run_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    _load(tmp_path, monkeypatch, NORTH)
    [north] = load_accounts()
    monkeypatch.delenv("NORTH_HAIER_PASSWORD")
    with pytest.raises(SettingError, match="NORTH_HAIER_PASSWORD"):
        north.jsh_settings()


def test_an_unknown_account_name_lists_the_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    _load(tmp_path, monkeypatch, NORTH)
    with pytest.raises(SettingError, match="the accounts are north"):
        find_account(load_accounts(), "south")


def test_an_account_names_where_each_setting_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    """The names every message about an account uses (the sync's and check_connection's)."""
    _load(tmp_path, monkeypatch, NORTH)
    [north] = load_accounts()
    assert north.variable("password") == "NORTH_HAIER_PASSWORD"
    # left out: its own password is sent, so that is the variable to fix
    assert north.variable("seller_password") == "NORTH_HAIER_PASSWORD"
    assert north.variable("customer_code") == "[accounts.north] customer_code"
    assert north.variable("supplier_code") == "HAIER_SUPPLIER_CODE"  # falls back to it
    assert north.variables(["customer_code", "password"]) == (
        "[accounts.north] customer_code and NORTH_HAIER_PASSWORD"
    )
    text = "fix HAIER_CLIENT_ID and HAIER_CLIENT_SECRET; not NORTH_HAIER_X"
    assert north.in_own_names(text) == (
        "fix NORTH_HAIER_CLIENT_ID and NORTH_HAIER_CLIENT_SECRET; not NORTH_HAIER_X"
    )
    monkeypatch.delenv("HAIER_ACCOUNTS_FILE")
    [default] = load_accounts()
    assert default.variable("seller_password") == "HAIER_SELLER_PASSWORD"
    assert default.in_own_names(text) == text


# -- issue 15, finding 4: nothing a user may have pasted a secret into is echoed -----------

PASTED = "AKIAJ7X2QW9ZKD4LMN0P"  # an access key pasted where a name goes (upper-case, digits)


@pytest.mark.parametrize("key", ["base_url", "token_url", "ylh_base_url"])
def test_a_url_key_that_fails_validation_is_named_but_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, key: str
) -> None:
    value = "ftp://shop:Hq7-never-printed@gateway.example/x?client_secret=Xk9-never-printed"
    text = NORTH.replace('base_url = "http://127.0.0.1:9001"\n', "") + f'{key} = "{value}"\n'
    [line] = _problems(tmp_path, monkeypatch, text)
    assert line.startswith(f"{tmp_path / 'accounts.toml'}: account 'north', key '{key}': ")
    assert "is not an http:// or https:// URL" in line
    assert "never-printed" not in line and "gateway.example" not in line


@pytest.mark.parametrize("value", [PASTED, "AKIA_J7X2QW9ZKD4LMN0P", "HUNTER2X9"])
def test_an_env_value_that_is_not_a_plausible_variable_name_is_refused_unechoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, value: str
) -> None:
    text = NORTH.replace('"NORTH_HAIER_PASSWORD"', f'"{value}"')
    [line] = _problems(tmp_path, monkeypatch, text)
    assert "key 'password_env': is not the name of an environment variable" in line
    assert value not in line


@pytest.mark.parametrize("name", ["NORTH_HAIER_PASSWORD", "S3_KEY_2", "HAIER_V2_PASSWORD"])
def test_plausible_variable_names_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, name: str
) -> None:
    monkeypatch.setenv(name, "north-pw")
    _load(tmp_path, monkeypatch, NORTH.replace('"NORTH_HAIER_PASSWORD"', f'"{name}"'))
    [north] = load_accounts()
    assert north.value("password") == "north-pw"


@pytest.mark.parametrize("name", ["Xk9mQ2vLp7Zt", "x" * 65, "sk_live_51Hq7Lm2Zp9"])
def test_a_bad_account_name_is_refused_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, name: str
) -> None:
    text = f'[accounts."{name}"]\ncustomer_code = "1"\ncounty_codes = ["110101"]\n'
    problems = _problems(tmp_path, monkeypatch, text)
    assert any("account #1" in line and "name is not" in line for line in problems), problems
    assert not any(name in line or name.upper() in line for line in problems), problems


def test_an_account_name_of_the_maximum_length_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    name = "n" * 64
    _load(tmp_path, monkeypatch, NORTH.replace("[accounts.north]", f"[accounts.{name}]"))
    assert [a.name for a in load_accounts()] == [name]


def test_accounts_sharing_a_client_id_must_share_its_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None
) -> None:
    monkeypatch.setenv("SOUTH_HAIER_CLIENT_ID", "north-id")  # another variable, the same id
    south = NORTH.replace("north", "south").replace("NORTH", "SOUTH")
    for name in ("SOUTH_HAIER_CLIENT_SECRET", "SOUTH_HAIER_PASSWORD"):
        monkeypatch.setenv(name, "x")
    [line] = _problems(
        tmp_path, monkeypatch, NORTH + "rate_limit = 100\n" + south + "rate_limit = 40\n"
    )
    assert line.startswith(f"{tmp_path / 'accounts.toml'}: accounts 'north' and 'south' share")
    assert "rate_limit 100 and 40" in line
    assert "north-id" not in line
    _load(tmp_path, monkeypatch, NORTH + "rate_limit = 40\n" + south + "rate_limit = 40\n")
    assert len(load_accounts()) == 2


@pytest.mark.parametrize("rate", ["1e-9", "0.001", "0.5"])
def test_a_rate_limit_below_one_call_a_second_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, north_env: None, rate: str
) -> None:
    [line] = _problems(tmp_path, monkeypatch, NORTH + f"rate_limit = {rate}\n")
    assert "account 'north', key 'rate_limit'" in line
    assert "from 1 and at most 1000" in line
