"""Orders of two Haier accounts on two gateways, each with its own catalog and secrets.

Each sandbox knows only its own account (client ids, passwords, sourceSystem, seller code,
callback secret), so an order validated against the wrong catalog, pushed with the other
account's credentials or defaults, or a callback verified with the other account's secret,
shows as a refusal or as an order on the wrong gateway.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterInstance

from haier_pipeline.callbacks.receiver import CallbackReceiver, account_keys
from haier_pipeline.definitions import build_defs
from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file

COUNTY = {"north": "110101", "south": "370202"}
PRICE = "1999.00"

ACCOUNT_TOML = """
[accounts.{name}]
customer_code = "{customer_code}"
send_to_code = "{send_to_code}"
county_codes = ["{county}"]
base_url = "{base_url}"
client_id_env = "{prefix}_HAIER_CLIENT_ID"
client_secret_env = "{prefix}_HAIER_CLIENT_SECRET"
password_env = "{prefix}_HAIER_PASSWORD"
ylh_base_url = "{ylh_base_url}"
ylh_client_id_env = "{prefix}_YLH_CLIENT_ID"
ylh_client_secret_env = "{prefix}_YLH_CLIENT_SECRET"
ylh_username_env = "{prefix}_YLH_USERNAME"
ylh_password_env = "{prefix}_YLH_PASSWORD"
source_system = "{source_system}"
shop_name = "{shop_name}"
callback_app_key = "{callback_app_key}"
callback_secret_env = "{prefix}_CALLBACK_SECRET"
"""


def _account(name: str) -> SandboxAccount:
    return SandboxAccount(
        client_id=f"{name}-client",
        client_secret=f"{name}-secret-value",
        customer_code="8800633175" if name == "north" else "8800700001",
        password=f"{name}-password-value",
        seller_password=f"{name}-password-value",
        customer_password=f"{name}-password-value",
        ylh_client_id=f"{name}-ylh-client",
        ylh_client_secret=f"{name}-ylh-secret",
        ylh_username=f"{name}-ylh-user",
        ylh_password=f"{name}-ylh-password",
        source_system=f"{name.upper()}-SHOP",
        shop_name=f"{name} flagship",
        callback_app_key=f"{name}-app-key",
        callback_secret=f"{name}-callback-secret",
    )


def _secrets(name: str, account: SandboxAccount) -> dict[str, str]:
    prefix = name.upper()
    return {
        f"{prefix}_HAIER_CLIENT_ID": account.client_id,
        f"{prefix}_HAIER_CLIENT_SECRET": account.client_secret,
        f"{prefix}_HAIER_PASSWORD": account.password,
        f"{prefix}_YLH_CLIENT_ID": account.ylh_client_id,
        f"{prefix}_YLH_CLIENT_SECRET": account.ylh_client_secret,
        f"{prefix}_YLH_USERNAME": account.ylh_username,
        f"{prefix}_YLH_PASSWORD": account.ylh_password,
        f"{prefix}_CALLBACK_SECRET": account.callback_secret,
    }


@dataclass
class TwoAccounts:
    gateways: dict[str, SandboxServer]
    root: Path
    instance: DagsterInstance

    @property
    def inbox(self) -> Path:
        return self.root / "data" / "orders" / "inbox"

    def configure(self, *names: str) -> None:
        """Write an accounts file holding ``names`` and point HAIER_ACCOUNTS_FILE at it."""
        text = "".join(
            ACCOUNT_TOML.format(
                name=name,
                prefix=name.upper(),
                county=COUNTY[name],
                base_url=self.gateways[name].base_url,
                ylh_base_url=self.gateways[name].ylh_base_url,
                customer_code=self.gateways[name].account.customer_code,
                send_to_code=self.gateways[name].account.send_to_code,
                source_system=self.gateways[name].account.source_system,
                shop_name=self.gateways[name].account.shop_name,
                callback_app_key=self.gateways[name].account.callback_app_key,
            )
            for name in names
        )
        path = self.root / f"accounts-{'-'.join(names)}.toml"
        path.write_text(text, encoding="utf-8")
        os.environ["HAIER_ACCOUNTS_FILE"] = str(path)

    def run(self, job: str) -> Any:
        definition = build_defs().resolve_job_def(job)
        return definition.execute_in_process(instance=self.instance, raise_on_error=False)

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "data" / "haier.duckdb"), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()

    def stocked(self, name: str) -> str:
        """A product only ``name`` can buy: procurable and stocked there, unknown to the other."""
        own = self.gateways[name].catalog
        other = next(g for n, g in self.gateways.items() if n != name).catalog
        foreign = {p.code for p in other.procurable}
        return next(
            p.code
            for p in own.procurable
            if p.code not in foreign
            and sum(level.qty for level in own.stock(p.code, COUNTY[name])) >= 2
        )

    def drop(self, so_id: str, name: str, code: str, **overrides: Any) -> Path:
        order = make_order_dict(so_id, ((code, 1, PRICE),), COUNTY[name], **overrides)
        return write_order_file(self.inbox, order)

    def processed(self, outcome: str) -> list[str]:
        folder = self.inbox.parent / "processed" / outcome
        return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoAccounts]:
    for name in list(os.environ):
        if name.startswith(("HAIER_", "YLH_")) and name != "HAIER_BUDGET_DIR":
            monkeypatch.delenv(name)
    with (
        SandboxServer(size=60, seed=3, rate_limit=None, account=_account("north")) as north,
        SandboxServer(size=50, seed=9, rate_limit=None, account=_account("south")) as south,
    ):
        env = {
            "HAIER_DUCKDB_PATH": str(tmp_path / "data" / "haier.duckdb"),
            "HAIER_ORDER_INBOX": str(tmp_path / "data" / "orders" / "inbox"),
            "HAIER_ORDER_SETTLE_S": "0",
            "HAIER_ORDER_SET_ASIDE_MIN": "0",
            "HAIER_CALLBACK_SPOOL": str(tmp_path / "data" / "callbacks"),
            "HAIER_RATE_LIMIT": "1000",
            **_secrets("north", north.account),
            **_secrets("south", south.account),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HAIER_ACCOUNTS_FILE", "")  # configure() sets it; restored after
        (tmp_path / "data" / "orders" / "inbox").mkdir(parents=True)
        home = tmp_path / "dagster_home"
        home.mkdir()
        with DagsterInstance.local_temp(str(home)) as instance:
            pair = TwoAccounts({"north": north, "south": south}, tmp_path, instance)
            pair.configure("north", "south")
            assert pair.run("catalog_sync").success
            yield pair


def test_each_accounts_order_is_pushed_to_its_own_gateway_exactly_once(two: TwoAccounts) -> None:
    north_code, south_code = two.stocked("north"), two.stocked("south")
    two.drop("SO-N1", "north", north_code, account="north")
    two.drop("SO-S1", "south", south_code, account="south")

    assert two.run("push_orders").success
    assert two.run("push_orders").success  # nothing left: nothing pushed twice

    assert set(two.gateways["north"].orders) == {"SO-N1"}
    assert set(two.gateways["south"].orders) == {"SO-S1"}
    assert two.gateways["north"].create_count("SO-N1") == 1
    assert two.gateways["south"].create_count("SO-S1") == 1
    assert two.rows("SELECT account, so_id, status, retail_order_no FROM orders ORDER BY 1") == [
        ("north", "SO-N1", "pushed", two.gateways["north"].orders["SO-N1"]["retailOrderNo"]),
        ("south", "SO-S1", "pushed", two.gateways["south"].orders["SO-S1"]["retailOrderNo"]),
    ]


def test_an_order_without_account_is_rejected_listing_the_accounts_when_two_are_configured(
    two: TwoAccounts,
) -> None:
    two.drop("SO-N2", "north", two.stocked("north"))
    two.drop("SO-N3", "north", two.stocked("north"), account="west")

    assert two.run("push_orders").success

    assert two.processed("rejected") == ["SO-N2.json", "SO-N3.json"]
    reasons = dict(two.rows("SELECT record_key, reason FROM sync_rejects"))
    assert "account: missing" in reasons["SO-N2.json"]
    assert "'west' is not a configured Haier account" in reasons["SO-N3.json"].replace('"', "'")
    assert all("north, south" in reason for reason in reasons.values())
    assert not two.gateways["north"].orders and not two.gateways["south"].orders
    assert two.rows("SELECT count(*) FROM orders") == [(0,)]


def test_an_order_without_account_belongs_to_the_only_account_configured(
    two: TwoAccounts,
) -> None:
    two.configure("north")
    two.drop("SO-N4", "north", two.stocked("north"))

    assert two.run("push_orders").success

    assert set(two.gateways["north"].orders) == {"SO-N4"}
    assert two.rows("SELECT account, status FROM orders") == [("north", "pushed")]


def test_an_order_for_a_product_only_the_other_account_buys_is_rejected(
    two: TwoAccounts,
) -> None:
    two.drop("SO-N5", "north", two.stocked("south"), account="north")

    assert two.run("push_orders").success

    [(account, status, error)] = two.rows("SELECT account, status, last_error FROM orders")
    assert (account, status) == ("north", "rejected")
    assert "is not in the synced catalog" in error
    assert not two.gateways["north"].orders and not two.gateways["south"].orders


def test_one_accounts_gateway_down_fails_only_its_orders_which_stay_in_the_inbox(
    two: TwoAccounts,
) -> None:
    two.drop("SO-N6", "north", two.stocked("north"), account="north")
    two.drop("SO-S6", "south", two.stocked("south"), account="south")
    two.gateways["south"].stop()

    assert not two.run("push_orders").success  # a failed order needs a person

    assert set(two.gateways["north"].orders) == {"SO-N6"}
    assert two.rows("SELECT account, so_id, status FROM orders ORDER BY 1") == [
        ("north", "SO-N6", "pushed"),
        ("south", "SO-S6", "failed"),
    ]
    assert sorted(p.name for p in two.inbox.glob("*.json")) == ["SO-S6.json"]


CONFIRM = "hmm.scm_heorder.confirm"


def test_a_callback_is_verified_with_its_accounts_secret_and_updates_only_its_order(
    two: TwoAccounts,
) -> None:
    """Both accounts hold an soId SO-X1: only the account whose AppKey signed it changes."""
    two.drop("SO-X1", "north", two.stocked("north"), account="north")  # one file name: in turn
    assert two.run("push_orders").success
    assert two.rows("SELECT account, so_id, status FROM orders ORDER BY 1") == [
        ("north", "SO-X1", "pushed"),
    ]
    two.drop("SO-X1", "south", two.stocked("south"), account="south")
    assert two.run("push_orders").success
    south = two.gateways["south"]
    spool = two.root / "data" / "callbacks"

    with CallbackReceiver(spool, account_keys()) as receiver:
        north_secret = two.gateways["north"].account.callback_secret
        wrong = south.send_callback(receiver.url, CONFIRM, "SO-X1", 1, secret=north_secret)
        stranger = south.send_callback(receiver.url, CONFIRM, "SO-X1", 1, app_key="stranger")
        assert (wrong.status_code, stranger.status_code) == (401, 401)
        assert not list((spool / "pending").glob("*.json"))

        signed = south.send_callback(receiver.url, CONFIRM, "SO-X1", 1, ext_order_no="EXT-S")
        assert signed.status_code == 200

    assert two.run("apply_callbacks").success
    assert two.rows("SELECT account, status, ext_order_no FROM orders ORDER BY 1") == [
        ("north", "pushed", None),
        ("south", "confirmed", "EXT-S"),
    ]


def test_track_logistics_follows_each_accounts_orders_with_its_own_clients(
    two: TwoAccounts,
) -> None:
    """Both accounts hold an soId SO-T1, on their own gateways, at different stages."""
    two.drop("SO-T1", "north", two.stocked("north"), account="north")
    assert two.run("push_orders").success
    two.drop("SO-T1", "south", two.stocked("south"), account="south")
    assert two.run("push_orders").success
    two.gateways["north"].advance_logistics("SO-T1")
    for _ in range(2):
        two.gateways["south"].advance_logistics("SO-T1")
    expected = {
        name: {event["status"] for event in gateway.orders["SO-T1"]["events"]}
        for name, gateway in two.gateways.items()
    }

    assert two.run("track_logistics").success

    stored = {
        name: {status for (status,) in rows}
        for name in two.gateways
        if (rows := two.rows("SELECT status FROM logistics_events WHERE account = ?", (name,)))
    }
    assert stored == expected
    assert expected["north"] != expected["south"]


def test_one_accounts_missing_ylh_login_fails_only_its_orders(two: TwoAccounts) -> None:
    """south names no YLH password of its own and YLH_PASSWORD is not set."""
    accounts_file = Path(os.environ["HAIER_ACCOUNTS_FILE"])
    text = accounts_file.read_text(encoding="utf-8")
    south = text.index("[accounts.south]")
    south_text = text[south:].replace('ylh_password_env = "SOUTH_YLH_PASSWORD"\n', "")
    accounts_file.write_text(text[:south] + south_text, encoding="utf-8")
    two.drop("SO-N7", "north", two.stocked("north"), account="north")
    two.drop("SO-S7", "south", two.stocked("south"), account="south")

    assert not two.run("push_orders").success

    assert set(two.gateways["north"].orders) == {"SO-N7"}
    assert not two.gateways["south"].orders
    rows = two.rows("SELECT account, status, last_error FROM orders ORDER BY 1")
    assert [(account, status) for account, status, _ in rows] == [
        ("north", "pushed"),
        ("south", "failed"),
    ]
    assert "account south" in rows[1][2] and "YLH_PASSWORD" in rows[1][2]
    assert sorted(p.name for p in two.inbox.glob("*.json")) == ["SO-S7.json"]


def test_cancel_goes_to_the_orders_own_account_and_an_unnamed_account_is_refused(
    two: TwoAccounts,
) -> None:
    two.drop("SO-S9", "south", two.stocked("south"), account="south")
    assert two.run("push_orders").success

    cancel = build_defs().resolve_job_def("cancel_order")

    def launch(**config: str) -> Any:
        run_config = {"ops": {"cancel_pushed_order": {"config": {"reason": "顾客取消", **config}}}}
        return cancel.execute_in_process(
            instance=two.instance, raise_on_error=False, run_config=run_config
        )

    unnamed = launch(so_id="SO-S9")
    assert not unnamed.success
    [failure] = [e for e in unnamed.all_events if e.is_step_failure]
    assert "several accounts are configured (north, south)" in str(
        failure.step_failure_data.user_failure_data.description
    )
    assert launch(so_id="SO-S9", account="south").success
    assert two.gateways["south"].orders["SO-S9"]["cancelled"] is True
    assert two.gateways["north"].stats()["served"].get("order_cancel", 0) == 0
