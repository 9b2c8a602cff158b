"""The production topology from deploy/dagster.yaml: runs through the queue, the per-account
limit, and the order sensor, with Dagster's storage in PostgreSQL.

Four catalog_sync runs (north, north, south, south) are launched together through the
webserver's GraphQL API, as the UI's Launch button does. The daemon may start runs of
different accounts side by side, but never two of one account.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
import yaml

from haier_pipeline_tests.deploy.conftest import TwoGateways
from haier_pipeline_tests.deploy.topology import BIN, REPO, RunRecord, Topology, start_topology
from haier_pipeline_tests.orders.factories import make_order_dict, write_order_file
from haier_pipeline_tests.postgres import PostgresCluster

pytestmark = pytest.mark.deploy

SENSOR_WAIT_S = 240.0
"""The order sensor runs every 30 s; then the run's process starts on a loaded machine."""


@pytest.fixture(scope="module")
def topology(
    postgres: PostgresCluster,
    two_gateways: TwoGateways,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Topology]:
    folder = tmp_path_factory.mktemp("topology")
    with start_topology(postgres, folder, two_gateways.code_env, "dagster_topology") as running:
        yield running


def test_runs_of_one_account_never_overlap_and_of_two_accounts_do(
    topology: Topology, two_gateways: TwoGateways
) -> None:
    order = ["north", "north", "south", "south"]
    run_ids = [topology.launch("catalog_sync", {"dagster/partition": name}) for name in order]
    records = topology.wait(run_ids)

    assert [r.status for r in records] == ["SUCCESS"] * 4, topology.log_tails()
    by_account = {
        name: [r for r in records if r.tags["dagster/partition"] == name]
        for name in ("north", "south")
    }
    for name, runs in by_account.items():
        first, second = runs
        assert not first.overlaps(second), (name, runs)
    assert any(
        a.overlaps(b) for a, b in itertools.product(by_account["north"], by_account["south"])
    ), records

    published = two_gateways.data_dir / "haier.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        accounts = con.execute("SELECT DISTINCT account FROM products ORDER BY 1").fetchall()
    assert accounts == [("north",), ("south",)]
    # The code server ran from a folder of its own: nothing was written relative to it.
    assert not list((topology.home.parent / "code-server-cwd").glob("**/*.duckdb"))


def test_a_dropped_order_is_pushed_by_the_sensor(
    topology: Topology, two_gateways: TwoGateways
) -> None:
    north = two_gateways.gateways["north"]
    code = next(
        p.code
        for p in north.catalog.procurable
        if sum(level.qty for level in north.catalog.stock(p.code, "110101")) >= 2
    )
    inbox = two_gateways.data_dir / "orders" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    write_order_file(
        inbox, make_order_dict("SO-DEPLOY-1", ((code, 1, "1999.00"),), account="north")
    )

    record = _wait_for_push_orders(topology)
    assert record.status == "SUCCESS", topology.log_tails()
    assert json.loads(record.tags.get("haier/order_files", "0")) == 1
    with duckdb.connect(str(two_gateways.data_dir / "haier.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT so_id, status, account FROM orders").fetchall()
    assert rows == [("SO-DEPLOY-1", "pushed", "north")]


def _wait_for_push_orders(topology: Topology) -> RunRecord:
    deadline = time.monotonic() + SENSOR_WAIT_S
    while time.monotonic() < deadline:
        pushes = [r for r in topology.runs() if r.job == "push_orders"]
        if pushes:
            return topology.wait([pushes[0].run_id])[0]
        time.sleep(2.0)
    raise AssertionError(("the sensor launched no push_orders run", topology.log_tails()))


def _health_check(service: dict[str, object], topology: Topology) -> list[str]:
    """A compose health check as a command here: this venv's tools, the topology's ports."""
    web_port = str(urlsplit(topology.webserver_url).port)
    tools = {"dagster": str(BIN / "dagster"), "dagster-daemon": str(BIN / "dagster-daemon"),
             "python3": sys.executable}  # fmt: skip
    test = service["healthcheck"]["test"]  # type: ignore[index]
    assert test[0] == "CMD", test
    command = [tools.get(word, word) for word in test[1:]]
    command = [str(topology.code_port) if word == "4000" else word for word in command]
    return [word.replace(":3000/", f":{web_port}/") for word in command]


@pytest.mark.parametrize("role", ["code-server", "webserver", "daemon"])
def test_the_compose_health_checks_pass_against_the_running_processes(
    topology: Topology, role: str
) -> None:
    services = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]
    command = _health_check(services[role], topology)
    deadline = time.monotonic() + 90  # the daemon's first heartbeats
    while True:
        check = subprocess.run(
            command, env=topology.instance_env, capture_output=True, text=True, timeout=60,
            cwd=Path(topology.home),
        )  # fmt: skip
        if check.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert check.returncode == 0, (command, check.stdout[-2000:], check.stderr[-2000:])
