"""The haier-pipeline command itself (issue 15, finding 6: --help is not an error)."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMAND = [sys.executable, "-m", "haier_pipeline.cli"]


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_prints_the_usage_to_stdout_and_exits_0(flag: str) -> None:
    done = subprocess.run([*COMMAND, flag], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: haier-pipeline {sandbox|callbacks|demo|")
    assert done.stderr == ""


@pytest.mark.parametrize("args", [[], ["nonsense"]])
def test_no_or_an_unknown_command_prints_the_usage_to_stderr_and_exits_2(args: list[str]) -> None:
    done = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: haier-pipeline") and done.stdout == ""
