"""The sandbox can refuse with business codes and messages no client has been written for,
so the pipeline's generic handling of refusals is tested, not only its map of known codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from haier_pipeline.sandbox import FaultConfig, SandboxServer
from haier_pipeline_tests.sandbox.conftest import Caller

ROOT = Path(__file__).resolve().parents[2]


def _refusal(caller: Caller, **changes: str) -> tuple[str, str]:
    code = caller.sandbox.catalog.procurable[0].code
    answer = caller.jsh("stock", caller.stock_body(code, **changes)).json()
    assert answer["success"] is False
    return answer["code"], answer["message"]


def test_every_business_refusal_takes_the_chosen_code_and_message() -> None:
    with SandboxServer(size=20, refusal_code="E-7731", refusal_message="密码错误") as sandbox:
        caller = Caller(sandbox)
        assert _refusal(caller, sellerPassword="wrong") == ("E-7731", "密码错误")
        assert _refusal(caller, salesCode="0000000000") == ("E-7731", "密码错误")


def test_a_chosen_code_alone_keeps_the_sandboxs_own_message() -> None:
    with SandboxServer(size=20, refusal_code="X9") as sandbox:
        code, message = _refusal(Caller(sandbox), sellerPassword="wrong")
    assert code == "X9" and message.startswith("密码错误")


def test_without_the_knob_the_sandbox_keeps_its_own_codes(caller: Caller) -> None:
    assert _refusal(caller, sellerPassword="wrong")[0] == "PASSWORD_WRONG"


def test_unsold_products_are_refused_alike_in_every_county(caller: Caller) -> None:
    """A records-level refusal: the same code and message for each product and county, as a
    gateway that does not name the product in its message would send."""
    sold, *unsold = [p.code for p in caller.sandbox.catalog.procurable[:3]]
    caller.sandbox.faults = FaultConfig(unsold_codes=frozenset(unsold))
    answers = {
        (answer["success"], answer["code"], answer["message"])
        for code in unsold
        for county in ("110101", "370202")
        for answer in [caller.jsh("stock", caller.stock_body(code, county)).json()]
    }
    assert len(answers) == 1 and next(iter(answers))[0] is False
    assert caller.jsh("stock", caller.stock_body(sold)).json()["success"] is True


@pytest.mark.parametrize("option", ["--refusal-code", "--refusal-message"])
def test_the_cli_refuses_an_empty_refusal_option(option: str) -> None:
    from haier_pipeline.sandbox.cli import main

    with pytest.raises(SystemExit) as exited:
        main([option, " "])
    assert exited.value.code == 2


def test_the_cli_takes_the_refusal_code_and_message() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "haier_pipeline.sandbox", "--port", "0", "--products", "20"]
    command += ["--refusal-code", "E-7731", "--refusal-message", "密码错误"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert process.stdout is not None
        lines = []
        while not (line := process.stdout.readline()).startswith("Ctrl-C"):
            lines.append(line)
        text = "".join(lines)
        assert "refusals:      every business refusal answers E-7731 密码错误" in text
        base_url = re.search(r"JSH base URL:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        port = int(base_url.rsplit(":", 1)[1])
        with SandboxServer(size=20) as local:  # only for its request bodies and account
            caller = Caller(local)
            caller.sandbox = _Remote(port)  # type: ignore[assignment]
            code = local.catalog.procurable[0].code
            answer = caller.jsh("stock", caller.stock_body(code, sellerPassword="wrong")).json()
        assert (answer["code"], answer["message"]) == ("E-7731", "密码错误")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


class _Remote:
    """The CLI's sandbox as the Caller sees one: only its URL."""

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
