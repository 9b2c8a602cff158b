"""A full disk and a read-only DuckDB folder: the run fails with a message that says what to
do, the analysts' file is left as it was, and nothing half-written stays behind.

Each trial gets a tmpfs of its own (``mount -t tmpfs``, which needs root or CAP_SYS_ADMIN):
filling a small tmpfs is a real ENOSPC, and remounting it read-only a real EROFS. Where
mounting is not allowed, the read-only trial falls back to ``chmod`` (enough for a non-root
user) and the full-disk trials are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from haier_pipeline_tests.conftest import Pipeline
from haier_pipeline_tests.faults.harness import (
    expected_catalog,
    failure_message,
    loaded_catalog,
    run_catalog,
    run_status,
    snapshot,
    sync_log,
)

SMALL = {"size": 120, "seed": 7}  # a 4 MB DuckDB file (5 MB working file, history included)
TMPFS_SIZE = "32m"  # room for both files, a staging file and a publish copy
CHUNK = b"\0" * 65536
WAREHOUSE_FILES = {
    "haier.duckdb",
    "haier.pipeline.duckdb",
    "haier.pipeline.duckdb.lock",
    "haier.pipeline.duckdb.owner",
}


class DataFolder:
    """The folder HAIER_DUCKDB_PATH points into, and the faults a test can switch on there."""

    def __init__(self, path: Path, mounted: bool) -> None:
        self.path = path
        self.mounted = mounted

    @property
    def duckdb_path(self) -> Path:
        return self.path / "haier.duckdb"

    def read_only(self, on: bool) -> None:
        if self.mounted:
            _run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path)])
        else:
            self.path.chmod(0o555 if on else 0o755)

    def fill(self, headroom: int) -> Path:
        """Write a filler file until the disk is full, then give ``headroom`` bytes back."""
        filler = self.path / "filler"
        with filler.open("wb") as out:
            try:
                while True:
                    out.write(CHUNK)
                    out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        os.truncate(filler, max(filler.stat().st_size - headroom, 0))
        return filler

    def files(self) -> dict[str, str]:
        """Every file below the folder with a digest of its content."""
        return {
            str(path.relative_to(self.path)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.path.rglob("*"))
            if path.is_file() and path.name != "filler"
        }


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        return subprocess.CompletedProcess(command, 127, "", str(exc))


@contextlib.contextmanager
def _data_folder(path: Path, *, need_tmpfs: bool) -> Iterator[DataFolder]:
    path.mkdir()
    mounted = _run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)])
    if mounted.returncode != 0 and (need_tmpfs or os.geteuid() == 0):
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs CAP_SYS_ADMIN")
    folder = DataFolder(path, mounted.returncode == 0)
    try:
        yield folder
    finally:
        if folder.mounted:
            _run(["umount", "-l", str(path)])
        else:
            path.chmod(0o755)


def _pipeline_in(
    pipeline: Pipeline, folder: DataFolder, monkeypatch: pytest.MonkeyPatch
) -> Pipeline:
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(folder.duckdb_path))
    return Pipeline(pipeline.sandbox, folder.duckdb_path, pipeline.instance)


def _assert_whole_after_next_run(pipeline: Pipeline) -> None:
    result = run_catalog(pipeline)
    assert run_status(pipeline, result.run_id) == DagsterRunStatus.SUCCESS
    assert pipeline.rows("SELECT count(*) FROM sync_log WHERE status = 'processing'") == [(0,)]
    counties = os.environ["HAIER_COUNTY_CODES"].split(",")
    assert loaded_catalog(pipeline.rows) == expected_catalog(pipeline.sandbox.catalog, counties)


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_read_only_duckdb_folder_fails_the_run_before_anything_is_written(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user sees: run FAILURE with "the folder of HAIER_DUCKDB_PATH (...) is not writable;
    nothing was written. Fix its permissions or point HAIER_DUCKDB_PATH elsewhere."; no
    sync_log row for the run (none could be written); yesterday's file as it was."""
    with _data_folder(tmp_path / "data", need_tmpfs=False) as folder:
        pipeline = _pipeline_in(pipeline, folder, monkeypatch)
        assert run_catalog(pipeline).success
        before = folder.files()
        folder.read_only(True)

        result = run_catalog(pipeline)

        assert run_status(pipeline, result.run_id) == DagsterRunStatus.FAILURE
        error = failure_message(result)
        assert f"the folder of HAIER_DUCKDB_PATH ({folder.path}) is not writable" in error
        assert "point HAIER_DUCKDB_PATH elsewhere" in error
        assert folder.files() == before  # not a byte changed, no file added
        assert sync_log(pipeline, result.run_id) == {}
        folder.read_only(False)
        _assert_whole_after_next_run(pipeline)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("headroom", "message", "rows_at_failure", "rows_after_recovery"),
    [
        (0.0, "beside HAIER_DUCKDB_PATH: the disk is full", set(), set()),
        (2.0, "(HAIER_DUCKDB_PATH): the disk is full", {"processing"}, {"success"}),
    ],
    ids=["full-before-the-run", "full-at-the-publish"],
)
@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_full_disk_fails_the_run_and_leaves_the_published_file_untouched(
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    headroom: float,
    message: str,
    rows_at_failure: set[str],
    rows_after_recovery: set[str],
) -> None:
    """The user sees: run FAILURE with "could not publish .../haier.duckdb (HAIER_DUCKDB_PATH):
    the disk is full. The previous file is unchanged and the change is kept in the working
    file; free space and rerun to publish it." (or, when even the first sync_log row cannot be
    written, "could not write the pipeline's working file ... beside HAIER_DUCKDB_PATH: the
    disk is full ... nothing was published; free space and rerun."); yesterday's catalog still
    published, with the
    run's sync_log rows 'processing' if the disk filled up during the run. Once space is
    freed, the next run publishes them as 'success' (the catalog was complete and committed)
    and then its own."""
    with _data_folder(tmp_path / "data", need_tmpfs=True) as folder:
        pipeline = _pipeline_in(pipeline, folder, monkeypatch)
        assert run_catalog(pipeline).success
        yesterday = snapshot(pipeline.rows)
        filler = folder.fill(int(headroom * folder.duckdb_path.stat().st_size))

        result = run_catalog(pipeline)

        assert run_status(pipeline, result.run_id) == DagsterRunStatus.FAILURE
        error = failure_message(result)
        path = folder.duckdb_path
        assert message in error and "free space and rerun" in error
        assert str(path.parent) in error
        assert snapshot(pipeline.rows) == yesterday
        assert {row.status for row in sync_log(pipeline, result.run_id).values()} == (
            rows_at_failure
        )
        # No temp copy, staging file or claim. DuckDB may leave the working file's WAL of the
        # rolled-back commit; it replays (nothing) on the next open.
        assert set(folder.files()) - {"haier.pipeline.duckdb.wal"} == WAREHOUSE_FILES
        filler.unlink()
        _assert_whole_after_next_run(pipeline)
        after = {row.status for row in sync_log(pipeline, result.run_id).values()}
        assert after == rows_after_recovery


@pytest.mark.parametrize("sandbox", [SMALL], indirect=True)
def test_duckdb_path_below_a_file_fails_the_run_naming_the_variable(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user sees: run FAILURE with "cannot create the folder for HAIER_DUCKDB_PATH (...):
    File exists. Point HAIER_DUCKDB_PATH at a writable location."; no sync_log row.

    Runs everywhere, root included: a path below a file cannot be written by anyone."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("HAIER_DUCKDB_PATH", str(blocker / "haier.duckdb"))

    result = run_catalog(pipeline)

    assert run_status(pipeline, result.run_id) == DagsterRunStatus.FAILURE
    error = failure_message(result)
    assert f"cannot create the folder for HAIER_DUCKDB_PATH ({blocker}): " in error
    assert "Point HAIER_DUCKDB_PATH at a writable location" in error
    assert blocker.read_text() == "a file where the data folder should be"
