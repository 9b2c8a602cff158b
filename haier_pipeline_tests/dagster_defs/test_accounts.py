"""Two Haier accounts on two gateways, each with its own secrets, in one project.

Each sandbox knows only its own account (its client id, secret and passwords) and has its own
catalog, so a row published under the wrong account, or a call made with the other
account's credentials, shows as a difference from that account's own gateway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    EventLogRecord,
    build_schedule_context,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from haier_pipeline import cli
from haier_pipeline.definitions import build_defs
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.storage.schema import PRODUCTS
from haier_pipeline.storage.warehouse import Warehouse, upsert, utcnow
from haier_pipeline_tests.dagster_defs.failures import failure_text

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COUNTIES = {"north": ["110101", "320106"], "south": ["370202"]}


@dataclass
class TwoAccounts:
    gateways: dict[str, SandboxServer]
    duckdb_path: Path
    accounts_file: Path
    instance: DagsterInstance

    def run(self, job: str, partition: str | None = None):  # type: ignore[no-untyped-def]
        definition = build_defs().resolve_job_def(job)
        return definition.execute_in_process(
            instance=self.instance, raise_on_error=False, partition_key=partition
        )

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()

    def expected(self, name: str) -> dict[str, set[tuple[object, ...]]]:
        """What a correct sync of ``name`` holds: its own gateway's catalog, nothing else."""
        catalog = self.gateways[name].catalog
        return {
            "products": {(p.code, p.model) for p in catalog.procurable},
            "prices": {
                (p.code, p.supply_price if p.has_price else None) for p in catalog.procurable
            },
            "stock": {
                (p.code, county, sum(level.qty for level in catalog.stock(p.code, county)))
                for p in catalog.procurable
                for county in COUNTIES[name]
            },
        }

    def published(self, name: str) -> dict[str, set[tuple[object, ...]]]:
        where = "WHERE account = ?"
        return {
            "products": set(
                self.rows(f"SELECT product_code, product_model FROM products {where}", (name,))
            ),
            "prices": set(
                self.rows(f"SELECT product_code, supply_price FROM prices {where}", (name,))
            ),
            "stock": set(
                self.rows(
                    f"SELECT product_code, county_code, stock_qty FROM stock {where}", (name,)
                )
            ),
        }


def _account(prefix: str) -> SandboxAccount:
    return SandboxAccount(
        client_id=f"{prefix}-client",
        client_secret=f"{prefix}-secret-value",
        customer_code="8800633175" if prefix == "north" else "8800700001",
        password=f"{prefix}-password-value",
        seller_password=f"{prefix}-seller-value",
        customer_password=f"{prefix}-customer-value",
    )


ACCOUNTS_TOML = """
[accounts.north]
customer_code = "8800633175"
send_to_code = "8800633176"
county_codes = {north_counties}
base_url = "{north_url}"
client_id_env = "NORTH_HAIER_CLIENT_ID"
client_secret_env = "NORTH_HAIER_CLIENT_SECRET"
password_env = "NORTH_HAIER_PASSWORD"
seller_password_env = "NORTH_HAIER_SELLER_PASSWORD"
customer_password_env = "NORTH_HAIER_CUSTOMER_PASSWORD"

[accounts.south]
customer_code = "8800700001"
send_to_code = "8800633176"
county_codes = {south_counties}
base_url = "{south_url}"
client_id_env = "SOUTH_HAIER_CLIENT_ID"
client_secret_env = "SOUTH_HAIER_CLIENT_SECRET"
password_env = "SOUTH_HAIER_PASSWORD"
seller_password_env = "SOUTH_HAIER_SELLER_PASSWORD"
customer_password_env = "SOUTH_HAIER_CUSTOMER_PASSWORD"
"""


def _secrets_env(name: str, account: SandboxAccount) -> dict[str, str]:
    prefix = name.upper()
    return {
        f"{prefix}_HAIER_CLIENT_ID": account.client_id,
        f"{prefix}_HAIER_CLIENT_SECRET": account.client_secret,
        f"{prefix}_HAIER_PASSWORD": account.password,
        f"{prefix}_HAIER_SELLER_PASSWORD": account.seller_password,
        f"{prefix}_HAIER_CUSTOMER_PASSWORD": account.customer_password,
    }


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoAccounts]:
    for name in list(os.environ):
        if name.startswith(("HAIER_", "YLH_")) and name != "HAIER_BUDGET_DIR":
            monkeypatch.delenv(name)
    with (
        SandboxServer(size=60, seed=3, rate_limit=None, account=_account("north")) as north,
        SandboxServer(size=50, seed=9, rate_limit=None, account=_account("south")) as south,
    ):
        accounts_file = tmp_path / "accounts.toml"
        accounts_file.write_text(
            ACCOUNTS_TOML.format(
                north_url=north.base_url,
                south_url=south.base_url,
                north_counties=json.dumps(COUNTIES["north"]),
                south_counties=json.dumps(COUNTIES["south"]),
            ),
            encoding="utf-8",
        )
        env = {
            "HAIER_ACCOUNTS_FILE": str(accounts_file),
            "HAIER_DUCKDB_PATH": str(tmp_path / "data" / "haier.duckdb"),
            "HAIER_RATE_LIMIT": "1000",
            **_secrets_env("north", north.account),
            **_secrets_env("south", south.account),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        home = tmp_path / "dagster_home"
        home.mkdir()
        with DagsterInstance.local_temp(str(home)) as instance:
            yield TwoAccounts(
                {"north": north, "south": south},
                tmp_path / "data" / "haier.duckdb",
                accounts_file,
                instance,
            )


def test_each_partition_syncs_its_own_account_then_a_run_naming_none_syncs_both(
    two: TwoAccounts,
) -> None:
    assert two.run("catalog_sync", "north").success
    assert two.published("north") == two.expected("north")
    assert two.rows("SELECT count(*) FROM products WHERE account <> 'north'") == [(0,)]

    assert two.run("catalog_sync", "south").success
    assert two.published("south") == two.expected("south")
    assert two.published("north") == two.expected("north")  # untouched by south's publish

    everything = two.run("catalog_sync")  # names no partition: every account
    assert everything.success
    for name in ("north", "south"):
        assert two.published(name) == two.expected(name)
    assert two.rows(
        "SELECT account, sync_type, status FROM sync_log WHERE run_id = ? ORDER BY account, id",
        (everything.run_id,),
    ) == [
        (name, sync_type, "success")
        for name in ("north", "south")
        for sync_type in ("products", "prices", "stock")
    ]
    # each gateway saw only its own account's calls (its own client id and password)
    for gateway in two.gateways.values():
        assert gateway.stats()["served"]["products"] == 2


def test_one_accounts_wrong_password_fails_the_run_only_after_the_other_synced(
    two: TwoAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUTH_HAIER_PASSWORD", "a-wrong-password")
    result = two.run("catalog_sync")
    assert not result.success
    message = failure_text(result)
    assert "catalog_sync failed for account(s) south" in message
    assert "a-wrong-password" not in message
    assert two.published("north") == two.expected("north")
    assert two.rows("SELECT count(*) FROM products WHERE account = 'south'") == [(0,)]


def test_one_accounts_gateway_down_never_stops_the_other(
    two: TwoAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    two.gateways["south"].stop()
    result = two.run("catalog_sync")
    assert not result.success
    assert "catalog_sync failed for account(s) south" in failure_text(result)
    assert two.published("north") == two.expected("north")


def test_balance_is_partitioned_by_account_too(two: TwoAccounts) -> None:
    assert two.run("balance_snapshot", "south").success
    assert two.run("balance_snapshot").success
    accounts = two.rows(
        "SELECT account, count(DISTINCT fetched_at) FROM account_balance GROUP BY 1 ORDER BY 1"
    )
    assert accounts == [("north", 1), ("south", 2)]


def test_the_daily_schedules_start_one_run_per_account(two: TwoAccounts) -> None:
    defs = build_defs()
    for name in ("catalog_sync_daily", "balance_snapshot_daily"):
        schedule = defs.resolve_schedule_def(name)
        tick = datetime(2026, 12, 1, 5, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        with build_schedule_context(
            instance=two.instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = schedule.evaluate_tick(context).run_requests or []
        assert sorted(r.partition_key for r in requests) == ["north", "south"], name
    job = defs.resolve_job_def("catalog_sync")
    assert job.partitions_def is not None
    assert job.partitions_def.get_partition_keys() == ["north", "south"]


def test_a_secret_in_the_accounts_file_stops_definitions_load_without_echoing_it(
    two: TwoAccounts,
) -> None:
    text = two.accounts_file.read_text(encoding="utf-8")
    two.accounts_file.write_text(text + 'password = "north-password-value"\n', encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        build_defs()
    assert str(raised.value).startswith(f"{two.accounts_file}: account 'south', key 'password'")
    assert "north-password-value" not in str(raised.value)


def test_the_cli_runs_one_account_by_partition_tag_and_all_without(
    two: TwoAccounts, tmp_path: Path
) -> None:
    home = tmp_path / "cli_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    command = [BIN / "dagster", "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"]
    one = subprocess.run(
        [*command, "--tags", json.dumps({"dagster/partition": "south"})],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.published("south") == two.expected("south")
    assert two.rows("SELECT count(*) FROM products WHERE account = 'north'") == [(0,)]

    materialize = [BIN / "dagster", "asset", "materialize", "-m", "haier_pipeline"]
    north = subprocess.run(
        [*materialize, "--select", "group:catalog", "--partition", "north"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert north.returncode == 0, north.stderr[-3000:]
    assert two.published("north") == two.expected("north")

    both = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert both.returncode == 0, both.stderr[-3000:]
    for name in ("north", "south"):
        assert two.published(name) == two.expected(name)
    secrets = [v for k, v in os.environ.items() if k.endswith(("_SECRET", "_PASSWORD"))]
    assert not any(s in one.stdout + one.stderr + both.stdout + both.stderr for s in secrets)


def test_the_shipped_dagster_yaml_allows_one_run_per_account_at_a_time(tmp_path: Path) -> None:
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits


def test_check_connection_probes_every_account_and_names_the_accounts_own_variable(
    two: TwoAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUTH_HAIER_SELLER_PASSWORD", "not-the-seller-password")
    result = two.run("check_connection")

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    line = failure.step_failure_data.user_failure_data.description
    assert "\n" not in line
    assert "south: SOUTH_HAIER_SELLER_PASSWORD (stock): refused (PASSWORD_WRONG)" in line
    assert "north: " not in line  # north's credentials all answered
    for name, sandbox in two.gateways.items():
        calls = sandbox.stats()["calls"]
        assert calls["products"] == calls["stock"] == calls["balance"] == 1, name
    assert not two.duckdb_path.exists()  # a connection check writes nothing


# -- what Dagster records per account ------------------------------------------------------

CATALOG_ASSETS = ("products", "prices", "stock")


def _materializations(two: TwoAccounts, asset: str) -> list[EventLogRecord]:
    return list(
        two.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset)), 100
        ).records
    )


def test_a_run_naming_no_partition_records_each_accounts_materializations_and_checks(
    two: TwoAccounts,
) -> None:
    result = two.run("catalog_sync")  # names no partition: every account
    assert result.success

    for asset in CATALOG_ASSETS:
        records = _materializations(two, asset)
        by_partition = {r.partition_key: r for r in records}
        assert sorted(by_partition) == ["north", "south"], asset  # nothing unpartitioned
        assert len(records) == 2, asset
        assert two.instance.get_materialized_partitions(AssetKey(asset)) == {"north", "south"}
        for name, record in by_partition.items():
            assert record.run_id == result.run_id
            metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
            [(rows,)] = two.rows(f"SELECT count(*) FROM {asset} WHERE account = ?", (name,))
            assert metadata["dagster/row_count"].value == rows, (asset, name)
            assert metadata["account"].value == name
            assert metadata["api_calls"].value > 0
            assert name in metadata["preview"].value or rows == 0
    # every check has one evaluation per account, each under its partition
    checks = build_defs().resolve_asset_graph().asset_check_keys
    catalog_checks = [c for c in checks if c.asset_key.to_user_string() in CATALOG_ASSETS]
    assert len(catalog_checks) == 6
    for check_key in catalog_checks:
        history = two.instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=10
        )
        evaluated = {
            record.partition: record.status
            for record in history
            if record.status != AssetCheckExecutionRecordStatus.PLANNED
        }
        assert set(evaluated) == {"north", "south"}, check_key
        assert set(evaluated.values()) == {AssetCheckExecutionRecordStatus.SUCCEEDED}, check_key


def test_one_accounts_missing_secret_fails_only_that_accounts_runs(
    two: TwoAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NORTH_HAIER_PASSWORD")
    defs = build_defs()  # every definition still loads
    assert {"catalog_sync", "push_orders", "check_connection"} <= {
        job.name for job in defs.resolve_all_job_defs()
    }
    expected = (
        f"{two.accounts_file}: account 'north', key 'password_env': names "
        "NORTH_HAIER_PASSWORD, which is not set; export NORTH_HAIER_PASSWORD"
    )

    north = two.run("catalog_sync", "north")
    assert not north.success
    [failure] = [e for e in north.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith(expected)
    assert two.gateways["north"].stats()["total_calls"] == 0  # stopped before any call
    # its checks still ran, against the rows analysts read, and are recorded as run
    check = AssetCheckKey(AssetKey("prices"), "prices_unique_code")
    [latest] = two.instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
    assert (latest.run_id, latest.partition) == (north.run_id, "north")
    assert latest.status == AssetCheckExecutionRecordStatus.SUCCEEDED

    assert two.run("catalog_sync", "south").success
    assert two.published("south") == two.expected("south")

    every = two.run("catalog_sync")
    assert not every.success
    assert f"catalog_sync failed for account(s) north; north: {expected}" in failure_text(every)
    assert {r.partition_key for r in _materializations(two, "products")} == {"south"}

    connection = two.run("check_connection")  # fails, naming north's unset variable
    assert not connection.success
    assert expected in failure_text(connection)
    [failed] = [e for e in connection.all_events if e.is_step_failure]
    table = failed.step_failure_data.user_failure_data.metadata["credentials"].value
    assert "north: " in table and "NORTH_HAIER_PASSWORD, which is not set" in table


def test_a_targeted_refresh_is_observed_and_leaves_the_last_full_sync_as_it_was(
    two: TwoAccounts,
) -> None:
    assert two.run("catalog_sync", "south").success
    [full] = _materializations(two, "stock")
    code = next(iter(two.expected("south")["products"]))[0]
    job = build_defs().resolve_job_def("catalog_sync")
    refresh = job.execute_in_process(
        instance=two.instance,
        partition_key="south",
        run_config={
            "ops": {"catalog": {"config": {"product_codes": [code], "county_codes": ["370202"]}}}
        },
    )
    assert refresh.success
    assert [r.storage_id for r in _materializations(two, "stock")] == [full.storage_id]
    [observed] = two.instance.fetch_observations(
        AssetRecordsFilter(asset_key=AssetKey("stock"), asset_partitions=["south"]), 10
    ).records
    metadata = observed.asset_observation.metadata  # type: ignore[union-attr]
    assert metadata["refresh"].value == "targeted"
    assert metadata["product_codes"].value == code
    assert metadata["records_loaded"].value == 1
    assert observed.run_id == refresh.run_id


def test_rows_of_an_account_no_longer_configured_are_reported_then_purged_on_request(
    two: TwoAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow()
    left_behind = [
        {"product_code": f"OLD{i}", "is_procurable": True, "synced_at": now} for i in range(3)
    ]
    with Warehouse(two.duckdb_path).transaction() as con:  # as the HAIER_* account left them
        upsert(con, PRODUCTS, PRODUCTS.to_arrow(left_behind))
    assert two.rows("SELECT DISTINCT account FROM products") == [("default",)]

    result = two.run("catalog_sync", "north")
    assert result.success
    [record] = _materializations(two, "products")
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["unconfigured_accounts"].value == "default (products 3)"
    warnings = [e.user_message for e in two.instance.all_logs(result.run_id) if e.level >= 30]
    assert any("not configured: default (products 3)" in w for w in warnings)
    assert two.rows("SELECT count(*) FROM products WHERE account = 'default'") == [(3,)]

    assert cli.main(["purge-accounts"]) == 0  # lists only
    assert "default (products 3)" in capsys.readouterr().out
    assert two.rows("SELECT count(*) FROM products WHERE account = 'default'") == [(3,)]

    assert cli.main(["purge-accounts", "--yes"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert two.rows("SELECT DISTINCT account FROM products") == [("north",)]
    assert two.published("north") == two.expected("north")
