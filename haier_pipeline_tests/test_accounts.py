"""The accounts file: one account from HAIER_* without it, and every mistake in it named."""

from __future__ import annotations

from pathlib import Path

import pytest

from haier_pipeline.accounts import (
    DEFAULT_ACCOUNT,
    AccountsFileError,
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
        "HAIER_PASSWORD": "pw",
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
    where = f"{tmp_path / 'accounts.toml'}: account 'South-1'"
    expected = {
        f"{where}: the name is not lower-case letters",
        f"{where}, key 'customer_code': must be text in quotes",
        f"{where}, key 'county_codes': ['11010'] holds '11010', not a 6-digit county code",
        f"{where}, key 'client_id_env': is not the name of an environment variable",
        f"{where}, key 'client_secret_env': names SOUTH_SECRET_NOT_SET, which is not set",
        f"{where}, key 'pasword_env': unknown key; remove it (did you mean 'password_env'?)",
        f"{where}, key 'rate_limit': must be a number",
        f"{where}, key 'password_env': missing; add password_env = \"SOUTH_1_HAIER_PASSWORD\"",
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
