"""The Dagster UI, as an operator opens it: two Haier accounts (``north`` and ``south``) from
an accounts file, each on its own sandbox with its own secrets, `dagster dev` on free ports,
and Debian's Chromium driven headless by Playwright (browsers cannot be downloaded here).

Each step saves a screenshot under ``artifacts/ui/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline_tests.dagster_defs.test_accounts import (
    ACCOUNTS_TOML,
    COUNTIES,
    _account,
    _secrets_env,
)

REPO = Path(__file__).parents[2]
ARTIFACTS = REPO / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_S = 120


@dataclass
class DagsterUi:
    url: str
    gateways: dict[str, SandboxServer]
    duckdb_path: Path
    accounts_file: Path
    log_path: Path

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"dagster dev did not answer within {STARTUP_S} s: {log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUi]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with apt-get install -y chromium")
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    duckdb_path = tmp / "data" / "haier.duckdb"
    port = _free_port()
    log = tmp / "dagster-dev.log"
    accounts_file = tmp / "accounts.toml"
    with (
        SandboxServer(size=60, seed=3, rate_limit=None, account=_account("north")) as north,
        SandboxServer(size=40, seed=9, rate_limit=None, account=_account("south")) as south,
    ):
        accounts_file.write_text(
            ACCOUNTS_TOML.format(
                north_url=north.base_url,
                south_url=south.base_url,
                north_counties=json.dumps(COUNTIES["north"]),
                south_counties=json.dumps(COUNTIES["south"]),
            ),
            encoding="utf-8",
        )
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HAIER_", "YLH_")) or k == "HAIER_BUDGET_DIR"
        }
        env = {
            **inherited,
            "HAIER_ACCOUNTS_FILE": str(accounts_file),
            "HAIER_DUCKDB_PATH": str(duckdb_path),
            "HAIER_ORDER_INBOX": str(tmp / "data" / "orders" / "inbox"),
            "HAIER_CALLBACK_SPOOL": str(tmp / "data" / "callbacks"),
            "HAIER_RATE_LIMIT": "1000",
            **_secrets_env("north", north.account),
            **_secrets_env("south", south.account),
            "DAGSTER_HOME": str(home),
        }
        dagster = Path(sys.executable).parent / "dagster"
        command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process, log)
            yield DagsterUi(url, {"north": north, "south": south}, duckdb_path, accounts_file, log)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="session")
def browser_page(dagster_ui: DagsterUi) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed and "browser_page" in item.fixturenames:
        page = item.funcargs["browser_page"]
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{item.name}.png"), full_page=True)
    return report
