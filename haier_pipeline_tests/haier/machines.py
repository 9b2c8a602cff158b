"""Several "machines" on one host, for tests of a call budget shared by machines.

A machine here is a mount namespace (``unshare -m``) in which
``/proc/sys/kernel/random/boot_id`` is a bind mount of a file holding that machine's own boot
id. Processes started in it take themselves for another kernel boot, which is how the budget
tells machines apart, while sharing this host's folders, network and clock: like pods on two
nodes sharing a ReadWriteMany volume and a database. (One kernel still serves both, so flock
and the page cache stay coherent; what differs is only what each believes about itself.)

It needs root (CAP_SYS_ADMIN) and util-linux's ``unshare`` and ``mount``;
:func:`unavailable` says why not, for ``pytest.skip``. Usage::

    problem = unavailable()
    if problem:
        pytest.skip(problem)
    first, second = Machine(tmp_path / "a"), Machine(tmp_path / "b")
    process = first.popen([sys.executable, "-m", "some.module"], env=os.environ, ...)

:meth:`Machine.popen` takes what :class:`subprocess.Popen` takes; the process and its
children run inside the machine and end with it, leaving nothing mounted on the host.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

BOOT_ID = "/proc/sys/kernel/random/boot_id"
_ENTER = 'mount --bind "$1" ' + BOOT_ID + ' && shift && exec "$@"'


class Machine:
    """A machine of its own boot id; its state (the boot id file) lives in ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.boot_id = str(uuid.uuid4())
        self._boot_file = folder / "boot_id"
        self._boot_file.write_text(self.boot_id + "\n")

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this machine."""
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _ENTER,
            "sh",
            str(self._boot_file),
            *argv,
        ]

    def popen(self, argv: list[str], **options: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.command(argv), **options)

    def run(self, argv: list[str], **options: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(self.command(argv), check=False, **options)


@functools.cache
def unavailable() -> str | None:
    """Why machines cannot be made here (for pytest.skip), or None when they can."""
    if os.geteuid() != 0:
        return "separate machines need root (unshare -m and a bind mount over the boot id)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "separate machines need util-linux's unshare and mount"
    with tempfile.TemporaryDirectory(prefix="haier-machine-") as folder:
        probe = Machine(Path(folder))
        seen = probe.run(["cat", BOOT_ID], capture_output=True, text=True)
    if seen.returncode != 0 or seen.stdout.strip() != probe.boot_id:
        return f"unshare -m with a bind-mounted boot id is not permitted here: {seen.stderr}"
    return None
