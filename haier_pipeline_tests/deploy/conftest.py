"""Fixtures of the deploy suite: a private PostgreSQL and two accounts on two sandboxes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline_tests.dagster_defs.test_accounts import (
    ACCOUNTS_TOML,
    COUNTIES,
    _account,
    _secrets_env,
)
from haier_pipeline_tests.postgres import postgres  # noqa: F401  (the session's cluster)

LATENCY_S = 0.05
"""Each sandbox call takes this long, so a run's sync lasts long enough to be seen running."""


@dataclass(frozen=True)
class TwoGateways:
    """Two accounts, each on its own sandbox, and the code server's settings for them."""

    gateways: dict[str, SandboxServer]
    data_dir: Path
    code_env: dict[str, str]


@pytest.fixture(scope="module")
def two_gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoGateways]:
    """Relative path settings under HAIER_DATA_DIR, as in deploy/compose.yaml."""
    folder = tmp_path_factory.mktemp("gateways")
    data_dir = folder / "data"
    (data_dir / "config").mkdir(parents=True)
    faults = FaultConfig(latency_s=LATENCY_S)
    with (
        SandboxServer(
            size=60, seed=3, rate_limit=None, account=_account("north"), faults=faults
        ) as north,
        SandboxServer(
            size=50, seed=9, rate_limit=None, account=_account("south"), faults=faults
        ) as south,
    ):
        (data_dir / "config" / "accounts.toml").write_text(
            ACCOUNTS_TOML.format(
                north_url=north.base_url,
                south_url=south.base_url,
                north_counties=json.dumps(COUNTIES["north"]),
                south_counties=json.dumps(COUNTIES["south"]),
            ),
            encoding="utf-8",
        )
        ylh = {k: v for k, v in north.env().items() if k.startswith("YLH_")}
        code_env = {
            "HAIER_DATA_DIR": str(data_dir),
            "HAIER_ACCOUNTS_FILE": "config/accounts.toml",
            "HAIER_DUCKDB_PATH": "haier.duckdb",
            "HAIER_ORDER_INBOX": "orders/inbox",
            "HAIER_CALLBACK_SPOOL": "callbacks",
            "HAIER_BUDGET_DIR": os.environ["HAIER_BUDGET_DIR"],
            "HAIER_RATE_LIMIT": "1000",
            "HAIER_ORDER_SETTLE_S": "0",
            "HAIER_SOURCE_SYSTEM": north.account.source_system,
            "HAIER_SHOP_NAME": north.account.shop_name,
            **ylh,
            **_secrets_env("north", north.account),
            **_secrets_env("south", south.account),
        }
        yield TwoGateways({"north": north, "south": south}, data_dir, code_env)
