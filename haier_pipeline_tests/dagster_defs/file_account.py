"""The pipeline's sandbox as account ``south`` of an accounts file, its secrets in SOUTH_*:
what a message about a file account must name instead of the HAIER_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from haier_pipeline_tests.conftest import Pipeline

SOUTH = """
[accounts.south]
customer_code = "{customer}"
send_to_code = "{send_to}"
county_codes = ["110101", "320106", "370202"]
base_url = "{base_url}"
client_id_env = "SOUTH_HAIER_CLIENT_ID"
client_secret_env = "SOUTH_HAIER_CLIENT_SECRET"
password_env = "SOUTH_HAIER_PASSWORD"
seller_password_env = "SOUTH_HAIER_SELLER_PASSWORD"
customer_password_env = "SOUTH_HAIER_CUSTOMER_PASSWORD"
"""


def south_account(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str = ""
) -> None:
    """Point HAIER_ACCOUNTS_FILE at a file whose one account, south, is the sandbox's
    (or sits at ``base_url``)."""
    account = pipeline.sandbox.account
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        SOUTH.format(
            customer=account.customer_code,
            send_to=account.send_to_code,
            base_url=base_url or pipeline.sandbox.base_url,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setenv("SOUTH_HAIER_CLIENT_ID", account.client_id)
    monkeypatch.setenv("SOUTH_HAIER_CLIENT_SECRET", account.client_secret)
    monkeypatch.setenv("SOUTH_HAIER_PASSWORD", account.password)
    monkeypatch.setenv("SOUTH_HAIER_SELLER_PASSWORD", account.seller_password)
    monkeypatch.setenv("SOUTH_HAIER_CUSTOMER_PASSWORD", account.customer_password)
