"""Two "machines" on one kernel, for the budget tests: each process in its own mount namespace
with its own boot id bind-mounted over /proc/sys/kernel/random/boot_id, all sharing one
budget folder, as pods on several hosts share a ReadWriteMany volume.

This proves what sharing does to state keyed by boot or host (the file budget's); it proves
nothing about NFS. It needs root (``unshare -m`` and ``mount``); without it the test skips.
CLOCK_MONOTONIC stays the kernel's one clock, so the tests can still compare the processes'
call times.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline_tests.haier.test_budget_processes import ROOT, Worker

BOOT_ID = "/proc/sys/kernel/random/boot_id"
# sh -c SCRIPT BOOT_ID_FILE COMMAND...: bind the file over the boot id, then become COMMAND.
_ENTER = 'mount --bind "$0" ' + BOOT_ID + ' && exec "$@"'


class Machine:
    """One simulated machine: a boot id of its own, in a file under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.boot_id = str(uuid.uuid4())
        self.boot_id_file = folder / f"boot-id-{self.boot_id}"
        self.boot_id_file.write_text(self.boot_id + "\n")

    def command(self, command: list[str]) -> list[str]:
        """``command`` as run on this machine."""
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", _ENTER,
                str(self.boot_id_file), *command]  # fmt: skip

    def boot_id_seen(self) -> str:
        """What a process on this machine reads as the boot id (checks the harness works)."""
        done = subprocess.run(
            self.command(["cat", BOOT_ID]), capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()


def require_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("two machines need root and unshare (util-linux)")


class MachineWorker(Worker):
    """A ``budget_worker`` process on a simulated machine."""

    def __init__(self, machine: Machine, job: dict[str, Any]) -> None:
        command = machine.command(
            [sys.executable, "-m", "haier_pipeline_tests.haier.budget_worker"]
        )
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job))
        self.process.stdin.close()
        self.process.stdin = None  # communicate() must not flush it again
        self.lines: list[str] = []
