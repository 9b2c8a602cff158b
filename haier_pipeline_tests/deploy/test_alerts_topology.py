"""Alerts in the production topology: a run that fails in the queue reaches a signed robot.

The same processes as deploy/compose.yaml (code server, daemon, webserver) on Dagster's
Postgres storage. north's customer password is wrong, so its balance_snapshot fails; the
daemon's run-failure sensor sends a Feishu-shaped alert to a loopback target that checks the
signature as Feishu documents it (haier_pipeline_tests/alerts/webhooks.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from haier_pipeline_tests.alerts.webhooks import SECRET, Target
from haier_pipeline_tests.deploy.conftest import TwoGateways
from haier_pipeline_tests.deploy.topology import Topology, start_topology
from haier_pipeline_tests.postgres import PostgresCluster

pytestmark = pytest.mark.deploy

ALERT_WITHIN_S = 60.0
"""The promise: the team hears of a failure within a minute of it."""
WRONG_PASSWORD = "not-the-customer-Password-77"
UI_URL = "http://dagster.example.internal"


@pytest.fixture(scope="module")
def feishu() -> Iterator[Target]:
    with Target("feishu") as target:
        yield target


@pytest.fixture(scope="module")
def alerting(
    postgres: PostgresCluster,
    two_gateways: TwoGateways,
    feishu: Target,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Topology]:
    code_env = {
        **two_gateways.code_env,
        "NORTH_HAIER_CUSTOMER_PASSWORD": WRONG_PASSWORD,
        "HAIER_ALERT_KIND": "feishu",
        "HAIER_ALERT_WEBHOOK_URL": feishu.url,
        "HAIER_ALERT_SECRET": SECRET,
        "HAIER_UI_URL": UI_URL,
    }
    folder = tmp_path_factory.mktemp("alerting")
    with start_topology(postgres, folder, code_env, "dagster_alerts") as running:
        yield running


def test_a_failed_queued_run_is_alerted_within_a_minute_signed_and_without_secrets(
    alerting: Topology, feishu: Target
) -> None:
    run_id = alerting.launch("balance_snapshot", {"dagster/partition": "north"})
    [record] = alerting.wait([run_id])
    assert record.status == "FAILURE", alerting.log_tails()
    failed = time.monotonic()
    while not feishu.received and time.monotonic() - failed < ALERT_WITHIN_S:
        time.sleep(1.0)

    assert feishu.received, ("no alert within a minute", alerting.log_tails())
    assert feishu.problems == []  # the signature checks out by Feishu's documented algorithm
    [text] = feishu.texts()
    assert "balance_snapshot" in text and "north" in text
    assert f"{UI_URL}/runs/{run_id}" in text
    raw = feishu.received[0].raw
    for secret in (SECRET, WRONG_PASSWORD, feishu.url):
        assert secret.encode() not in raw
