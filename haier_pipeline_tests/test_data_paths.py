"""Relative path settings resolve against one base (HAIER_DATA_DIR, else the checkout), never
against the working folder of whichever process reads them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from haier_pipeline import environment as env
from haier_pipeline.accounts import AccountsFileError, load_accounts
from haier_pipeline.callbacks import spool
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET, callback_form
from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.dagster_defs.failures import failure_lines
from haier_pipeline_tests.postgres import free_port

PATH_SETTINGS = [
    env.HAIER_DUCKDB_PATH,
    env.HAIER_ORDER_INBOX,
    env.HAIER_CALLBACK_SPOOL,
    env.HAIER_BUDGET_DIR,
    env.HAIER_ACCOUNTS_FILE,
]


@pytest.mark.parametrize("variable", PATH_SETTINGS, ids=lambda v: v.name)
def test_a_relative_setting_resolves_against_haier_data_dir(
    variable: env.Variable[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_DATA_DIR", str(tmp_path / "base"))
    monkeypatch.chdir(tmp_path)
    assert variable.value("sub/thing") == tmp_path / "base" / "sub" / "thing"
    assert variable.value("/abs/thing") == Path("/abs/thing")


def test_without_haier_data_dir_a_checkout_resolves_against_its_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAIER_DATA_DIR", raising=False)
    monkeypatch.delenv("HAIER_DUCKDB_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    root = Path(__file__).resolve().parents[1]
    path = env.HAIER_DUCKDB_PATH.value(env.HAIER_DUCKDB_PATH.text())
    assert path == root / "data" / "haier.duckdb"


def test_an_installed_package_refuses_a_relative_path_without_haier_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAIER_DATA_DIR", raising=False)
    monkeypatch.setattr(env, "CHECKOUT_ROOT", tmp_path / "site-packages")
    with pytest.raises(env.SettingError) as refused:
        env.HAIER_ORDER_INBOX.value("data/orders/inbox")
    message = str(refused.value)
    assert "HAIER_ORDER_INBOX='data/orders/inbox' is relative and HAIER_DATA_DIR is unset" in (
        message
    )
    assert "\n" not in message


def test_a_relative_haier_data_dir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAIER_DATA_DIR", "data")
    with pytest.raises(env.SettingError, match=r"HAIER_DATA_DIR='data'; set HAIER_DATA_DIR to an"):
        env.HAIER_DUCKDB_PATH.value("haier.duckdb")


def test_the_accounts_file_follows_the_rule_and_unset_means_one_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_DATA_DIR", str(tmp_path))
    for name in ("N_ID", "N_SECRET", "N_PW"):
        monkeypatch.setenv(name, "x")
    (tmp_path / "accounts.toml").write_text(
        '[accounts.north]\ncustomer_code = "8800633175"\ncounty_codes = ["110101"]\n'
        'client_id_env = "N_ID"\nclient_secret_env = "N_SECRET"\npassword_env = "N_PW"\n'
    )
    monkeypatch.chdir(tmp_path.parent)
    assert [a.name for a in load_accounts("accounts.toml")] == ["north"]
    assert [a.name for a in load_accounts("")] == ["default"]
    monkeypatch.setenv("HAIER_DATA_DIR", "relative")
    expected = r"HAIER_ACCOUNTS_FILE='accounts\.toml' is relative"
    with pytest.raises(AccountsFileError, match=expected):
        load_accounts("accounts.toml")


def test_a_run_writes_where_the_base_says_whatever_its_working_folder(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    monkeypatch.setenv("HAIER_DATA_DIR", str(base))
    monkeypatch.setenv("HAIER_DUCKDB_PATH", "warehouse/haier.duckdb")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert pipeline.run("catalog_sync").success
    assert (base / "warehouse" / "haier.duckdb").is_file()
    assert not (elsewhere / "warehouse").exists()


def test_a_run_with_an_unusable_path_setting_stops_with_one_line(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAIER_DATA_DIR", "not/absolute")
    monkeypatch.setenv("HAIER_DUCKDB_PATH", "haier.duckdb")
    result = pipeline.run("catalog_sync")
    assert not result.success
    lines = failure_lines(result)
    assert any("HAIER_DUCKDB_PATH='haier.duckdb' is relative" in line for line in lines), lines


def test_the_receiver_spools_under_haier_data_dir_whatever_its_working_folder(
    tmp_path: Path,
) -> None:
    base, elsewhere = tmp_path / "base", tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "HAIER_DATA_DIR": str(base),
        "HAIER_CALLBACK_SPOOL": "callbacks",
        "HAIER_CALLBACK_APP_KEY": APP_KEY,
        "HAIER_CALLBACK_SECRET": SECRET,
    }
    command = [str(Path(sys.executable).parent / "haier-pipeline"), "callbacks",
               "--port", str(port)]  # fmt: skip
    receiver = subprocess.Popen(command, env=env, cwd=elsewhere, stdout=subprocess.DEVNULL)
    try:
        answer = _post_when_listening(f"http://127.0.0.1:{port}/", callback_form("P-PATHS"))
        assert answer.json()["success"] is True
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
    assert [c.platform_order_no for c in spool.pending(base / "callbacks")] == ["P-PATHS"]
    assert not (elsewhere / "callbacks").exists()


def _post_when_listening(url: str, form: dict[str, str]) -> requests.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return requests.post(url, data=form, timeout=5)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the receiver did not start listening"
            time.sleep(0.2)
