"""The call budget's file: its folder, how it is opened on a shared host, and what it holds.

**The folder is the user's own.** Default: ``haier-budget-<uid>`` in the system temp folder
(``/tmp/haier-budget-1000``). Not ``$XDG_RUNTIME_DIR``, although that is private by design:
it exists only in a login session (pam_systemd sets it), so a Dagster daemon started by
systemd, cron or a container has none, and processes of one user would silently get two
folders, hence two budgets. A per-uid name is the same for every process of the user. The
temp folder is shared, so another user may create that name first: such a folder (not ours,
or writable by group or others) is refused with one line, never used; the user then sets
``HAIER_BUDGET_DIR`` to a folder of their own. A folder we create is 0700.

**Opened so nobody else's file is ever written.** The folder is opened with ``O_NOFOLLOW``
and checked on its descriptor; the file is opened relative to that descriptor (so the folder
cannot be swapped between the check and the open), with ``O_NOFOLLOW | O_NONBLOCK`` (a
symbolic link is never followed, a fifo never waited on), and checked on its descriptor: a
regular file of our uid with one link. (The order inbox checks its files the same way;
its messages speak of order files, and the Haier client does not import the orders package.)

**No mmap.** A mapped file that anyone truncates kills every process mapping it with SIGBUS,
and so does a sparse file on a full disk. The file is read and written with ``pread`` and
``pwrite`` under ``flock`` instead: a short read is a shrunken file, rebuilt under the lock.
Its blocks are reserved with ``posix_fallocate`` when it is made, so a full disk refuses at
the start with one line. The cost is measured in ``benchmarks/budget_overhead.py``.

**Layout** (version 3): magic, the boot id of the machine that last used it, its rate, when
it was last used (wall clock), the next free slot, how late callers have been waking (for
the window's headroom) and when that was measured, the number of order claims and where the
next send goes in the ring; then the claims; then the ring of the last :data:`MAX_WINDOW`
send times. Times other than the wall clock are CLOCK_MONOTONIC seconds of that boot.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import stat
import struct
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

MAX_CLAIMS = 64  # order claims kept at once; each lives until its slot is checked or stale
MAX_WINDOW = 1024  # calls remembered for the one-second window; above this rate it is not kept
BUDGET_DIR_VARIABLE = "HAIER_BUDGET_DIR"
"""Named here, not read from ``environment`` (whose default for it comes from this module)."""

MAGIC = b"HBUDGET3"
_HEADER = struct.Struct("<8s16sdddddII")
_TIME = struct.Struct("<d")
_CLAIMS_AT = _HEADER.size
RING_AT = _CLAIMS_AT + MAX_CLAIMS * _TIME.size
FILE_SIZE = RING_AT + MAX_WINDOW * _TIME.size
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class BudgetUnavailable(RuntimeError):
    """The budget cannot be used as it is; the one-line message names the setting to fix."""


class Shrunk(Exception):
    """The file is shorter than its layout: someone truncated it. Rebuilt under the lock."""


def default_budget_dir() -> Path:
    """``haier-budget-<uid>`` in the system temp folder: the same for every process of a user."""
    return Path(tempfile.gettempdir()) / f"haier-budget-{os.geteuid()}"


def boot_id() -> bytes:
    """This kernel boot's id: the machine, as far as flock and CLOCK_MONOTONIC reach.

    Two containers on one node share the kernel, hence the id, the clock and the locks; two
    nodes do not. Elsewhere than Linux a constant (one machine assumed).
    """
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return uuid.UUID(text).bytes
    except (OSError, ValueError):
        return bytes(16)


def open_budget_file(path: Path) -> int:
    """A read-write descriptor of the budget file, made and checked as the docstring says."""
    folder = _open_folder(path.parent)
    try:
        fd = _open_in(folder, path)
    finally:
        os.close(folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size < FILE_SIZE:
                reserve(fd, path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except BaseException:
        os.close(fd)
        raise
    return fd


def reserve(fd: int, path: Path) -> None:
    """Give the file its full size in real blocks (not a sparse hole that fails later)."""
    try:
        os.posix_fallocate(fd, 0, FILE_SIZE)
    except OSError as error:
        raise BudgetUnavailable(
            f"cannot reserve {FILE_SIZE:,} bytes for the Haier call budget file {path} "
            f"({error.strerror}); free space there or set {BUDGET_DIR_VARIABLE} to a folder "
            "of your own on a filesystem with room"
        ) from None


def _open_folder(folder: Path) -> int:
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        fd = os.open(folder, _DIR_FLAGS)
    except OSError as error:
        link = error.errno in (errno.ELOOP, errno.ENOTDIR) and folder.is_symlink()
        why = "it is a symbolic link" if link else error.strerror
        raise BudgetUnavailable(
            f"cannot use the Haier call budget folder {folder} ({why}); set "
            f"{BUDGET_DIR_VARIABLE} to a folder of your own (it is made 0700 if missing)"
        ) from None
    problem = _folder_problem(os.fstat(fd))
    if problem:
        os.close(fd)
        raise BudgetUnavailable(
            f"the Haier call budget folder {folder} {problem}, so another user could change "
            f"or replace the budget; set {BUDGET_DIR_VARIABLE} to a folder of your own that "
            "only you can write (or remove that folder)"
        )
    return fd


def _folder_problem(info: os.stat_result) -> str | None:
    if info.st_uid != os.geteuid():
        return f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _open_in(folder: int, path: Path) -> int:
    refused = (
        f"the Haier call budget file {path} {{}}; remove it, or set {BUDGET_DIR_VARIABLE} to "
        "a folder of your own"
    )
    try:
        fd = os.open(path.name, _OPEN_FLAGS, 0o600, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BudgetUnavailable(refused.format("is a symbolic link")) from None
        raise BudgetUnavailable(refused.format(f"cannot be opened ({error.strerror})")) from None
    problem = _file_problem(os.fstat(fd))
    if problem:
        os.close(fd)
        raise BudgetUnavailable(refused.format(problem))
    return fd


def _file_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a fifo, socket, device or folder)"
    if info.st_uid != os.geteuid():
        return f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links, so its content may be another file's"
    return None


@dataclass
class Header:
    """The file's header and claims, as read under the lock."""

    magic: bytes = MAGIC
    boot: bytes = bytes(16)
    rate: float = 0.0
    used_at: float = 0.0  # wall clock: compared between machines, whose monotonic clocks differ
    next_slot: float = 0.0
    lag: float = 0.0
    lag_at: float = 0.0
    head: int = 0
    claims: list[float] = field(default_factory=list)
    count: int = 0  # claims as stored: more than MAX_CLAIMS is corrupt

    def numbers(self) -> tuple[float, ...]:
        return (self.rate, self.used_at, self.next_slot, self.lag, self.lag_at, *self.claims)


def read_header(fd: int) -> Header:
    """The header as stored (unchecked); Shrunk when the file is shorter than its layout."""
    if os.fstat(fd).st_size < FILE_SIZE:
        raise Shrunk()
    data = _read(fd, 0, RING_AT)
    magic, boot, rate, used_at, next_slot, lag, lag_at, count, head = _HEADER.unpack_from(data)
    claims = list(struct.unpack_from(f"<{min(count, MAX_CLAIMS)}d", data, _CLAIMS_AT))
    return Header(magic, boot, rate, used_at, next_slot, lag, lag_at, head, claims, count)


def write_header(fd: int, header: Header) -> None:
    count = len(header.claims)
    data = _HEADER.pack(
        header.magic,
        header.boot,
        header.rate,
        header.used_at,
        header.next_slot,
        header.lag,
        header.lag_at,
        count,
        header.head,
    ) + struct.pack(f"<{count}d", *header.claims)
    os.pwrite(fd, data, 0)


def read_sent(fd: int, index: int) -> float:
    (sent,) = _TIME.unpack(_read(fd, RING_AT + index * _TIME.size, _TIME.size))
    return float(sent)


def write_sent(fd: int, index: int, moment: float) -> None:
    os.pwrite(fd, _TIME.pack(moment), RING_AT + index * _TIME.size)


def fill_ring(fd: int, moment: float) -> None:
    """Every remembered send at ``moment`` (0.0: none remembered)."""
    os.pwrite(fd, _TIME.pack(moment) * MAX_WINDOW, RING_AT)


def all_finite(numbers: tuple[float, ...]) -> bool:
    """True when no number is NaN or infinite (nor so huge that their sum overflows)."""
    return math.isfinite(sum(numbers))


def _read(fd: int, offset: int, size: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) < size:
        raise Shrunk()
    return data
