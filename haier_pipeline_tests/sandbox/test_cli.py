"""The sandbox CLI in its own process: announces its URLs and env, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from haier_pipeline.sandbox.catalog import generate_catalog
from haier_pipeline.sandbox.cli import main, procurable_summary

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_until_interrupted() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "haier_pipeline.sandbox", "--port", "0", "--products", "50"]
    command += ["--rate-limit", "0", "--error-rate", "0.5", "--malformed", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        base_url = re.search(r"JSH base URL:\s+(\S+)", "".join(lines)).group(1)
        assert re.search(r"products:\s+\d+ of 50 procurable", "".join(lines))
        exports = []
        while not (line := process.stdout.readline()).startswith("Ctrl-C"):
            exports.append(line)
        assert f"export HAIER_BASE_URL={base_url}\n" in exports
        assert any(line.startswith("export HAIER_SHOP_NAME=") for line in exports)
        faults = requests.get(f"{base_url}/_sandbox/faults", timeout=5).json()
        assert faults["error_rate"] == 0.5 and len(faults["malformed_codes"]) == 2
        assert requests.post(f"{base_url}/oauth2/auth", json={}, timeout=5).status_code in (
            400,
            500,
            502,
            503,
            504,
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "sandbox stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_bad_arguments(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--products", "0"])
    assert exited.value.code == 2
    assert "at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--error-rate", "2"])


def test_the_summary_counts_procurable_products_and_says_why_the_others_are_not() -> None:
    catalog = generate_catalog(500, seed=42)
    refused = [p for p in catalog.products if not p.procurable]
    unpriced = [p for p in catalog.procurable if p.supply_price is None]
    assert refused and unpriced  # the sandbox mirrors Haier: not every product can be ordered

    summary = procurable_summary(catalog)

    assert summary.startswith(f"{len(catalog.procurable)} of 500 procurable; {len(refused)} not")
    for reason in {p.not_procurable_reason for p in refused}:
        assert f"{reason} " in summary
    assert f"{len(unpriced)} procurable without a price in force" in summary
