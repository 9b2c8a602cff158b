"""The budget file on a host shared with other users: what another user plants is refused.

Each attack of issue 14 as it was made: a folder and links planted by another user (the
``nobody`` user, by chown, so these tests need root and skip without it), a fifo, hard links,
a full small tmpfs. Every refusal is one line naming HAIER_BUDGET_DIR, and the target of a
planted link is never touched.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from haier_pipeline.haier.budget import BudgetUnavailable, FileBudget, budget_dir, budget_file
from haier_pipeline.haier.budget_store import FILE_SIZE

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def nobody() -> tuple[int, int]:
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def refusal(path: Path) -> str:
    """The one line FileBudget(path) is refused with."""
    with pytest.raises(BudgetUnavailable) as refused:
        FileBudget(path, 10)
    message = str(refused.value)
    assert "\n" not in message
    assert "HAIER_BUDGET_DIR" in message
    return message


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A root-only file another user would like the pipeline to overwrite."""
    target = tmp_path / "secret"
    target.write_text("root's own data\n")
    target.chmod(0o600)
    return target


@needs_root
def test_a_folder_and_link_planted_by_another_user_are_refused_and_the_target_untouched(
    tmp_path: Path, secret: Path
) -> None:
    planted = tmp_path / "haier-budget"
    planted.mkdir()
    planted.chmod(0o777)
    link = budget_file(planted, "client")
    link.symlink_to(secret)
    uid, gid = nobody()
    os.chown(planted, uid, gid)
    os.lchown(link, uid, gid)
    assert "belongs to uid" in refusal(link)
    assert secret.read_text() == "root's own data\n"


@needs_root
def test_a_folder_of_another_user_is_refused_even_when_private(tmp_path: Path) -> None:
    foreign = tmp_path / "budget"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, *nobody())
    assert f"belongs to uid {nobody()[0]}" in refusal(foreign / "b")


def test_a_folder_anyone_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "budget"
    shared.mkdir()
    shared.chmod(0o777)
    assert "writable by group or others (mode 0777)" in refusal(shared / "b")


def test_a_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "budget").symlink_to(tmp_path / "real")
    assert "symbolic link" in refusal(tmp_path / "budget" / "b")


def test_a_link_in_our_own_folder_is_never_followed(tmp_path: Path, secret: Path) -> None:
    link = tmp_path / "b"
    link.symlink_to(secret)
    assert "is a symbolic link" in refusal(link)
    assert secret.read_text() == "root's own data\n"


@needs_root
def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    FileBudget(tmp_path / "b", 10).close()
    os.chown(tmp_path / "b", *nobody())
    assert "belongs to uid" in refusal(tmp_path / "b")


def test_a_hard_link_to_another_file_is_refused(tmp_path: Path, secret: Path) -> None:
    os.link(secret, tmp_path / "b")
    assert "2 hard links" in refusal(tmp_path / "b")
    assert secret.read_text() == "root's own data\n"


def test_a_fifo_is_refused_at_once_naming_the_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "b")
    message = refusal(tmp_path / "b")
    assert str(tmp_path / "b") in message
    assert "not a regular file" in message


def test_the_default_folder_is_the_users_own_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAIER_BUDGET_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = budget_dir()
    assert folder == tmp_path / f"haier-budget-{os.geteuid()}"
    FileBudget(budget_file(folder, "client"), 10).acquire()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.geteuid()
    made = budget_file(folder, "client").stat()
    assert stat.S_IMODE(made.st_mode) == 0o600
    assert made.st_blocks * 512 >= FILE_SIZE  # reserved, not a sparse hole


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, as CI (root) can mount; skipped where mounting is not permitted."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


def fill(folder: Path) -> None:
    """Take every free block of ``folder``'s filesystem."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_full_disk_refuses_with_one_line_at_the_start(small_tmpfs: Path) -> None:
    fill(small_tmpfs)
    message = refusal(small_tmpfs / "budget" / "b")
    assert "cannot reserve" in message
    assert "No space left on device" in message


def test_a_full_disk_after_a_truncation_refuses_with_one_line_never_a_bus_error(
    small_tmpfs: Path,
) -> None:
    budget = FileBudget(small_tmpfs / "b", 1000)
    budget.acquire()
    os.truncate(small_tmpfs / "b", 0)
    fill(small_tmpfs)
    with pytest.raises(BudgetUnavailable, match="HAIER_BUDGET_DIR") as refused:
        budget.acquire()
    assert "No space left on device" in str(refused.value)
    (small_tmpfs / "filler").unlink()
    budget.acquire()  # space again: the file is rebuilt and the budget goes on
    assert (small_tmpfs / "b").stat().st_size == FILE_SIZE
    budget.close()
