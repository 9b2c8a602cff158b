"""Admin endpoints (driving a sandbox in another process), settings and env for clients."""

from __future__ import annotations

import requests

from haier_pipeline.haier.settings import JshSettings, YlhSettings
from haier_pipeline.sandbox import FaultConfig, SandboxServer


def test_stats_and_reset_over_http(caller) -> None:
    base = caller.sandbox.base_url
    codes = caller.sandbox.catalog.codes[:2]
    caller.jsh("prices", caller.prices_body(codes))
    stats = requests.get(f"{base}/_sandbox/stats", timeout=5).json()
    assert stats["calls"] == {"jsh_token": 1, "prices": 1}
    assert stats["product_codes"]["prices"] == codes
    assert requests.post(f"{base}/_sandbox/reset-stats", timeout=5).status_code == 200
    assert caller.sandbox.stats()["total_calls"] == 0


def test_faults_over_http(caller) -> None:
    base = caller.sandbox.base_url
    answer = requests.post(
        f"{base}/_sandbox/faults", json={"error_rate": 1.0, "malformed_codes": ["AAAAAAAAA"]}
    )
    assert answer.status_code == 200
    assert caller.sandbox.faults == FaultConfig(error_rate=1.0, malformed_codes={"AAAAAAAAA"})
    assert requests.get(f"{base}/_sandbox/faults", timeout=5).json()["error_rate"] == 1.0
    assert caller.session.post(caller.sandbox.base_url + "/oauth2/auth", json={}).status_code >= 500
    refused = requests.post(f"{base}/_sandbox/faults", json={"drop": 1}, timeout=5)
    assert refused.status_code == 400 and "drop" in refused.json()["message"]
    assert requests.post(f"{base}/_sandbox/faults", json={}, timeout=5).status_code == 200
    assert caller.sandbox.faults == FaultConfig()


def test_orders_and_advance_over_http(caller) -> None:
    base = caller.sandbox.base_url
    caller.ylh("order_create", caller.order_body("SO/1 x"))
    orders = requests.get(f"{base}/_sandbox/orders", timeout=5).json()
    assert list(orders) == ["SO/1 x"]
    assert orders["SO/1 x"]["request"]["totalAmt"] == "4397.50"
    advanced = requests.post(f"{base}/_sandbox/orders/SO%2F1%20x/advance", timeout=5)
    assert advanced.status_code == 200 and advanced.json()["status"] == "OUT_OF_WAREHOUSE"
    missing = requests.post(f"{base}/_sandbox/orders/NOPE/advance", timeout=5)
    assert missing.status_code == 404
    for _ in range(4):
        caller.sandbox.advance_logistics("SO/1 x")
    assert requests.post(f"{base}/_sandbox/orders/SO%2F1%20x/advance").status_code == 409
    assert requests.get(f"{base}/_sandbox/nothing", timeout=5).status_code == 404


def test_settings_point_at_the_sandbox(sandbox) -> None:
    jsh = sandbox.jsh_settings()
    assert isinstance(jsh, JshSettings)
    assert jsh.effective_token_url == f"{sandbox.base_url}/oauth2/auth"
    assert jsh.effective_send_to_code == sandbox.account.send_to_code
    assert jsh.effective_seller_password == sandbox.account.seller_password
    assert sandbox.jsh_settings(rate_limit=7.0).rate_limit == 7.0
    ylh = sandbox.ylh_settings(timeout_s=1.0)
    assert isinstance(ylh, YlhSettings) and ylh.timeout_s == 1.0
    assert ylh.auth_url == f"{sandbox.base_url}/ylh/ylh-cloud-mgt-auth/oauth/token"


def test_env_holds_every_contract_variable() -> None:
    with SandboxServer(size=5, rate_limit=80) as sandbox:
        env = sandbox.env(HAIER_COUNTY_CODES="110101")
        assert env["HAIER_RATE_LIMIT"] == "80"
        assert env["HAIER_COUNTY_CODES"] == "110101"
        assert env["YLH_BASE_URL"] == sandbox.ylh_base_url
        assert env["HAIER_SHOP_NAME"] == "沙盒家电旗舰店"
        required = {
            "HAIER_BASE_URL",
            "HAIER_CLIENT_ID",
            "HAIER_CLIENT_SECRET",
            "HAIER_CUSTOMER_CODE",
            "HAIER_PASSWORD",
            "YLH_AUTH_URL",
            "YLH_CLIENT_ID",
            "YLH_CLIENT_SECRET",
            "YLH_USERNAME",
            "YLH_PASSWORD",
            "HAIER_SOURCE_SYSTEM",
            "HAIER_CALLBACK_APP_KEY",
            "HAIER_CALLBACK_SECRET",
        }
        assert required <= set(env)
        assert all(isinstance(value, str) and value for value in env.values())


def test_sandbox_can_restart_on_the_same_port() -> None:
    server = SandboxServer(size=5)
    with server:
        port = server.port
    with SandboxServer(size=5, port=port) as again:
        assert requests.get(f"{again.base_url}/_sandbox/stats", timeout=5).status_code == 200
