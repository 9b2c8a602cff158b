"""Where every table is written, and how analysts get to read it at any time.

DuckDB allows one read-write process *or* many read-only ones on a file, never both. Analysts
keep notebooks open on ``HAIER_DUCKDB_PATH`` for minutes, so the pipeline never writes that
file in place. It writes a private *working* file beside it (``<name>.pipeline.duckdb``),
behind a cross-process file lock held only for short transactions, and after each change
*publishes*: checkpoint, copy the working file to a temporary name, fsync, and ``os.replace``
it over the analysts' file. Readers that already have the old file open keep reading the old
snapshot; new readers get the new one in full. Nobody ever sees half a refresh, and no reader
can make the pipeline wait.

Long extractions do not hold the lock: they stream into a per-run staging file
(``staging.py``) and the catalog, with its history (``history.py``), is swapped in by one
transaction (``publish_catalog``).

Every file is written in DuckDB storage format ``STORAGE_VERSION`` so that analysts on DuckDB
1.4 LTS and 1.5 can open it; a working file written by an older release in 2.0's format is
converted once, when it is first opened. No path or value is ever spliced into SQL text.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import stat
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import filelock
import pyarrow as pa

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.durable import fsync_dir
from haier_pipeline.storage.history import follow_current, seed_from_current
from haier_pipeline.storage.schema import (
    ACCOUNT,
    ALL_TABLES,
    HISTORIES,
    PIPELINE_SCHEMA,
    SCHEMA_FINGERPRINT,
    STORAGE_VERSION,
    SYNC_LOG,
    SYNC_REJECTS,
    Table,
    comments_of,
    schema_statements,
    sql_literal,
)

DEFAULT_LOCK_TIMEOUT_S = 120.0
CLAIM_WAIT_S = 1.0


class StorageError(RuntimeError):
    """The DuckDB files could not be read or written; the message says what to do."""


class PublishError(StorageError):
    """The working file holds a committed change that could not be copied to the analysts' file.

    Nothing is lost: the next successful publish shows the change. Callers must not record
    the change as undone.
    """


class ForeignWriterError(PublishError):
    """Another process has the analysts' file open read-write (or left its write-ahead log):
    replacing the file under it would break every reader and lose what it wrote."""


class UnusablePathError(StorageError):
    """HAIER_DUCKDB_PATH names something that cannot be a DuckDB file (a folder, a device)."""


@dataclass(frozen=True)
class SyncOutcome:
    """How one sync type of one run ended, written to its sync_log row."""

    log_id: int
    status: str  # success | partial | failed
    total_count: int
    success_count: int
    failed_count: int
    api_calls: int
    message: str


def utcnow() -> datetime:
    return datetime.now(UTC)


class Warehouse:
    """The pipeline's DuckDB storage: a locked working file and the published analysts' file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        owner: str = "haier-pipeline",
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        _check_usable(self.path)
        suffix = self.path.suffix or ".duckdb"
        self.work_path = self.path.with_name(f"{self.path.stem}.pipeline{suffix}")
        self._held_claims: set[str] = set()
        self.staging_dir = self.path.parent / ".staging"
        self.owner = owner
        self.lock_timeout_s = lock_timeout_s
        self._lock_path = Path(f"{self.work_path}.lock")
        self._owner_path = Path(f"{self.work_path}.owner")

    # -- connections -----------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, *, publish: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-write connection to the working file, under the writer lock.

        On a clean exit the working file is checkpointed and, unless ``publish`` is False,
        published to the analysts' file before the lock is released.
        """
        self._prepare_dirs()
        lock = filelock.FileLock(str(self._lock_path))
        try:
            lock.acquire(timeout=self.lock_timeout_s)
        except filelock.Timeout:
            raise StorageError(self._lock_timeout_message()) from None
        try:
            self._write_owner()
            self._restore_working_file()
            con = self._open_working()
            try:
                yield con
                con.execute("CHECKPOINT")
            except duckdb.Error as exc:
                if "No space left on device" not in str(exc):
                    raise
                raise StorageError(
                    f"could not write the pipeline's working file {self.work_path} beside "
                    "HAIER_DUCKDB_PATH: the disk is full. That change was rolled back and "
                    "nothing was published; free space and rerun."
                ) from exc
            finally:
                con.close()
            if publish:
                self._publish()
        finally:
            lock.release()

    @contextlib.contextmanager
    def transaction(self, *, publish: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: statements inside commit together or not at all."""
        with self.connect(publish=publish) as con, atomic(con):
            yield con

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Query the published file read-only, as an analyst would (no writer lock needed)."""
        with self.reading() as con:
            return con.execute(sql, list(params)).fetchall() if con else []

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection to the published file; None before the first publish."""
        if not self.path.exists():
            yield None
            return
        with duckdb.connect(str(self.path), read_only=True) as con:
            yield con

    def publish(self) -> None:
        """Publish the working file now (for example after a crash left it unpublished)."""
        with self.connect(publish=True):
            pass

    # -- sync_log ---------------------------------------------------------------------

    def start_sync(self, run_id: str, sync_type: str, account: str = DEFAULT_ACCOUNT) -> int:
        """Open a sync_log row as ``processing`` and publish it, so a running sync is visible."""
        return self.start_syncs(run_id, [sync_type], account)[sync_type]

    def start_syncs(
        self, run_id: str, sync_types: Sequence[str], account: str = DEFAULT_ACCOUNT
    ) -> dict[str, int]:
        """Open one row per sync type in one transaction: one publish, not one per row."""
        ids: dict[str, int] = {}
        with self.transaction() as con:
            for sync_type in sync_types:
                [(log_id,)] = con.execute(
                    f"INSERT INTO {SYNC_LOG.name} (account, id, run_id, sync_type, status, "
                    "total_count, success_count, failed_count, api_calls, message, started_at) "
                    "VALUES (?, nextval('sync_log_id_seq'), ?, ?, 'processing', 0, 0, 0, 0, "
                    "NULL, ?) RETURNING id",
                    [account, run_id, sync_type, utcnow()],
                ).fetchall()
                ids[sync_type] = int(log_id)
        return ids

    def finish_sync(self, outcome: SyncOutcome) -> None:
        with self.transaction() as con:
            _close_sync_row(con, outcome)

    def close_interrupted_syncs(self) -> int:
        """Mark ``processing`` rows of runs that are no longer alive as ``failed``.

        A run killed with SIGKILL cannot close its own row; the next run does it, naming the
        dead run so the sync_log never shows a sync as running forever, and removes the files
        the dead run staged. Every run that opens sync_log rows holds its claim
        (:meth:`run_claim`) first, so a run is alive exactly as long as its claim is held,
        whatever Dagster says: a killed run stays STARTED in Dagster's instance for ever when
        no run-monitoring daemon runs, and a run of another Dagster instance is unknown to it.
        """
        with self.connect(publish=False) as con:
            rows = con.execute(
                f"SELECT id, run_id FROM {SYNC_LOG.name} WHERE status IN ('pending', 'processing')"
            ).fetchall()
        stale = [(log_id, run) for log_id, run in rows if not self._alive(run)]
        if stale:  # publish (copy the whole file) only when something changed
            with self.transaction() as con:
                for log_id, run in stale:
                    con.execute(
                        f"UPDATE {SYNC_LOG.name} SET status = 'failed', completed_at = ?, "
                        "message = ? WHERE id = ? AND status IN ('pending', 'processing')",
                        [
                            utcnow(),
                            f"interrupted: run {run} ended without closing this sync",
                            log_id,
                        ],
                    )
        # A run killed after its commit left no open row, but still its staging file.
        dead = {run for _, run in stale}
        dead |= {c.stem for c in self.staging_dir.glob("*.claim") if not _claim_held(c)}
        for run in dead:
            self._remove_run_files(run)
        return len(stale)

    def staging_path(self, run_id: str, account: str = DEFAULT_ACCOUNT) -> Path:
        """The file a run stages one account's extraction in (``staging.py``): a run that
        syncs every account syncs them side by side."""
        return self.staging_dir / f"{run_id}.{account}.duckdb"

    @contextlib.contextmanager
    def run_claim(self, run_id: str) -> Iterator[None]:
        """Hold a kernel file lock for the run while it writes sync_log rows and staging files.

        The kernel drops a process's locks when it dies, however it dies, so a free claim is
        proof that the run is gone; Dagster's run status cannot tell (see above). Claiming a
        run this object already holds is a no-op, so the Dagster layer can claim for the whole
        step and the work inside it (``CatalogSync``) can claim again.
        """
        if run_id in self._held_claims:
            yield
            return
        self._prepare_dirs()
        claim = self._claim_path(run_id)
        claim.parent.mkdir(exist_ok=True)
        lock = filelock.FileLock(str(claim))
        try:
            # Not 0: another run's liveness probe may hold the lock for a few microseconds.
            lock.acquire(timeout=CLAIM_WAIT_S)
        except filelock.Timeout:
            raise StorageError(
                f"run {run_id} is already syncing in another process (it holds {claim}); "
                "let it finish instead of running the same run twice."
            ) from None
        self._held_claims.add(run_id)
        try:
            yield
        finally:
            self._held_claims.discard(run_id)
            lock.release()
            claim.unlink(missing_ok=True)

    def _claim_path(self, run_id: str) -> Path:
        return self.staging_dir / f"{run_id}.claim"

    def _alive(self, run_id: str) -> bool:
        claim = self._claim_path(run_id)
        return claim.exists() and _claim_held(claim)

    def _remove_run_files(self, run_id: str) -> None:
        staged = self.staging_dir.glob(f"{run_id}.*.duckdb*")  # every account's, and its .wal
        for path in (*staged, self._claim_path(run_id)):
            path.unlink(missing_ok=True)

    # -- bulk writes ----------------------------------------------------------------------

    def publish_catalog(
        self,
        staging_path: Path,
        tables: Sequence[Table],
        outcomes: Sequence[SyncOutcome],
        account: str = DEFAULT_ACCOUNT,
        *,
        keep_outside_scope: bool = False,
    ) -> dict[str, int]:
        """Swap the staged catalog tables of one account in, bring their histories in step
        and close their sync_log rows, in one transaction: no reader sees new tables with old
        history. Other accounts' rows are carried over untouched.

        Rows are replaced for every key the sync covered (its *scope*). A key in scope that
        could not be fetched this time (the call failed after its retries) keeps its previous
        row and older ``synced_at``, rather than vanishing from the analysts' tables, and so
        keeps its open history row. ``keep_outside_scope`` (a targeted refresh of a few keys)
        keeps every row outside the scope too, and so their history; a full sync drops them,
        as they are no longer in Haier's catalog. Returns the account's rows in each swapped
        table and the rows each history opened.
        """
        counts: dict[str, int] = {}
        swapped = {table.name for table in tables}
        with self.connect() as con:
            # One thread: DuckDB's parallel rebuild of the keyed tables was the peak of a
            # 100,000-product sync (+189 MB over Dagster's base; +143 MB with one thread).
            con.execute("SET threads = 1")
            con.execute("ATTACH ? AS stg (READ_ONLY)", [str(staging_path)])
            try:
                with atomic(con):
                    at = utcnow()  # the sync's time: valid_from/valid_to and completed_at
                    for table in tables:
                        counts[table.name] = _swap_table(con, table, account, keep_outside_scope)
                    for history in HISTORIES:
                        if history.current.name in swapped:
                            opened = follow_current(con, history, at, account)
                            counts[history.table.name] = opened
                    con.execute(
                        f"INSERT INTO {SYNC_REJECTS.name} SELECT * REPLACE (?::VARCHAR AS "
                        f"{ACCOUNT.name}) FROM stg.{SYNC_REJECTS.name}",
                        [account],
                    )
                    for outcome in outcomes:
                        _close_sync_row(con, outcome, at)
            finally:
                con.execute("DETACH stg")
        return counts

    # -- internals ----------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the folder for HAIER_DUCKDB_PATH ({self.path.parent}): "
                f"{exc.strerror}. Point HAIER_DUCKDB_PATH at a writable location."
            ) from None
        if not os.access(self.path.parent, os.W_OK):
            raise StorageError(
                f"the folder of HAIER_DUCKDB_PATH ({self.path.parent}) is not writable; "
                "nothing was written. Fix its permissions or point HAIER_DUCKDB_PATH elsewhere."
            )

    def _open_working(self) -> duckdb.DuckDBPyConnection:
        try:
            con = self._connect_working()
            if not _readable_by_target(con):
                con.execute("CHECKPOINT")
                con.close()
                self._convert_working_file()
                con = self._connect_working()
            _set_up_schema(con)
        except duckdb.Error as exc:
            raise StorageError(
                f"cannot open the pipeline's working DuckDB file {self.work_path}: {exc}"
            ) from exc
        return con

    def _connect_working(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | bool | int | float | list[str]] = {
            "storage_compatibility_version": STORAGE_VERSION
        }
        return duckdb.connect(str(self.work_path), config=config)

    def _convert_working_file(self) -> None:
        """Rewrite a working file of a newer storage format in ``STORAGE_VERSION``, once.

        COPY FROM DATABASE keeps tables, rows, sequences (with their next value), views and
        comments; the copy replaces the file only when complete.
        """
        tmp = self.work_path.with_name(f".{self.work_path.name}.convert.tmp")
        tmp.unlink(missing_ok=True)
        with duckdb.connect() as con:
            con.execute("ATTACH ? AS old (READ_ONLY)", [str(self.work_path)])
            con.execute(
                f"ATTACH ? AS new (STORAGE_VERSION {sql_literal(STORAGE_VERSION)})", [str(tmp)]
            )
            con.execute("COPY FROM DATABASE old TO new")
            con.execute("DETACH new")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.work_path)
        fsync_dir(self.work_path.parent)

    def _restore_working_file(self) -> None:
        """Start from the published file when the working file is missing (new machine, cleanup)."""
        if not self.work_path.exists() and self.path.exists():
            shutil.copyfile(self.path, self.work_path)

    def _publish(self) -> None:
        # Only the writer-lock holder publishes, so any copy already here was left by a
        # process killed mid-publish: remove it, or every such kill leaks a catalog's size.
        for orphan in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            orphan.unlink(missing_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with self._no_foreign_writer():
            self._replace_published(tmp)

    @contextlib.contextmanager
    def _no_foreign_writer(self) -> Iterator[None]:
        """Refuse to publish over a file another process has open read-write, and keep any
        new one from opening it read-write until the new file is in place.

        DuckDB takes a POSIX write lock on a file it opens read-write and a read lock on one
        it opens read-only. An open-file-description read lock of ours is refused while a
        writer holds its lock (that writer's pid is then known), and coexists with readers.
        """
        wal = Path(f"{self.path}.wal")
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None and not _lock_shared(fd):
                raise ForeignWriterError(self._foreign_writer_message(_writer_pid(fd)))
            if wal.exists():
                raise ForeignWriterError(self._foreign_wal_message(wal))
            yield
        finally:
            if fd is not None:
                os.close(fd)

    def _foreign_writer_message(self, pid: int | None) -> str:
        who = f"process {pid} ({_process_name(pid)})" if pid else "another process"
        return (
            f"{self.path} (HAIER_DUCKDB_PATH) is open read-write by {who}; nothing was "
            f"published and the new data waits in {self.work_path}. The published file is "
            "read-only for analysts: close that connection and reopen it with "
            "duckdb.connect(path, read_only=True) (duckdb -readonly in the CLI); the next run "
            "publishes."
        )

    def _foreign_wal_message(self, wal: Path) -> str:
        return (
            f"{self.path} (HAIER_DUCKDB_PATH) has a write-ahead log {wal} left by a process "
            f"that opened it read-write; nothing was published and the new data waits in "
            f"{self.work_path}. The published file is read-only for analysts: open it "
            "read-write once and close it to fold the log in (or delete the log), then rerun "
            "to publish."
        )

    def _replace_published(self, tmp: Path) -> None:
        try:
            shutil.copyfile(self.work_path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            hint = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise PublishError(
                f"could not publish {self.path} (HAIER_DUCKDB_PATH): {hint}. The previous file "
                "is unchanged and the change is kept in the working file; free space and rerun "
                "to publish it."
            ) from None

    def _write_owner(self) -> None:
        # The host too: with the data on a shared volume, the holder may be another machine.
        info = {
            "pid": os.getpid(),
            "owner": self.owner,
            "host": socket.gethostname(),
            "since": utcnow().isoformat(),
        }
        with contextlib.suppress(OSError):
            self._owner_path.write_text(json.dumps(info))

    def _lock_timeout_message(self) -> str:
        try:
            info = json.loads(self._owner_path.read_text())
            where = f", on {info['host']}" if "host" in info else ""
            holder = f"pid {info['pid']} ({info['owner']}{where}, since {info['since']})"
        except (OSError, ValueError, KeyError):
            holder = "another process"
        return (
            f"waited {self.lock_timeout_s:.0f} s for the DuckDB writer lock {self._lock_path}, "
            f"held by {holder}. Let that run finish (see the Dagster runs page) and retry; "
            "analysts' read-only connections never hold this lock."
        )


@contextlib.contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back if anything inside raises."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _claim_held(claim: Path) -> bool:
    """Whether a live process holds this run claim (a dead one's lock is already gone)."""
    probe = filelock.FileLock(str(claim))
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    probe.release()
    return False


def _close_sync_row(
    con: duckdb.DuckDBPyConnection, outcome: SyncOutcome, at: datetime | None = None
) -> None:
    con.execute(
        f"UPDATE {SYNC_LOG.name} SET status = ?, total_count = ?, success_count = ?, "
        "failed_count = ?, api_calls = ?, message = ?, completed_at = ? WHERE id = ?",
        [
            outcome.status,
            outcome.total_count,
            outcome.success_count,
            outcome.failed_count,
            outcome.api_calls,
            outcome.message,
            at or utcnow(),
            outcome.log_id,
        ],
    )


def _swap_table(
    con: duckdb.DuckDBPyConnection, table: Table, account: str, keep_outside_scope: bool
) -> int:
    """Build the new table beside the old one, then drop and rename, inside the caller's
    transaction. Deleting and re-inserting a million keyed rows instead made the COMMIT
    alone take 6 s (measured by benchmarks/load_stock.py); building afresh takes 2.6 s.

    Other accounts' rows are copied as they are; the staged rows (which carry no account)
    are stamped with ``account``."""
    keys = ", ".join(table.local_key)
    fresh = f"{table.name}__new"
    mine = f"(SELECT * FROM {table.name} WHERE {ACCOUNT.name} = ?)"
    con.execute(table.ddl(fresh))
    con.execute(
        f"INSERT INTO {fresh} SELECT * FROM {table.name} WHERE {ACCOUNT.name} <> ?", [account]
    )
    in_scope = "" if keep_outside_scope else f"SEMI JOIN stg.scope_{table.name} USING ({keys}) "
    con.execute(
        f"INSERT INTO {fresh} SELECT * REPLACE (?::VARCHAR AS {ACCOUNT.name}) "
        f"FROM stg.{table.name} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY synced_at DESC) = 1",
        [account],
    )
    con.execute(
        f"INSERT INTO {fresh} SELECT t.* FROM {mine} t "
        f"{in_scope}ANTI JOIN stg.{table.name} USING ({keys})",
        [account],
    )
    con.execute(f"DROP TABLE {table.name}")
    con.execute(f"ALTER TABLE {fresh} RENAME TO {table.name}")
    for statement in comments_of(table):  # a new table starts without them
        con.execute(statement)
    [(count,)] = con.execute(
        f"SELECT count(*) FROM {table.name} WHERE {ACCOUNT.name} = ?", [account]
    ).fetchall()
    return int(count)  # this account's rows: what its partition's row count shows


def upsert(con: duckdb.DuckDBPyConnection, table: Table, rows: pa.Table) -> None:
    """Insert rows, replacing any with the same key (idempotent re-runs)."""
    con.register("_rows", rows.select(table.column_names))
    try:
        con.execute(f"INSERT OR REPLACE INTO {table.name} SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def insert_new(con: duckdb.DuckDBPyConnection, table: Table, rows: pa.Table) -> int:
    """Insert only rows whose key is not there yet; returns how many were new."""
    before = _count(con, table)
    con.register("_rows", rows.select(table.column_names))
    try:
        con.execute(f"INSERT OR IGNORE INTO {table.name} SELECT * FROM _rows")
    finally:
        con.unregister("_rows")
    return _count(con, table) - before


def _count(con: duckdb.DuckDBPyConnection, table: Table) -> int:
    # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open, and the next
    # register() on this connection then fails.
    [(count,)] = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()
    return int(count)


def _check_usable(path: Path) -> None:
    """Refuse a path that exists and is not a regular file, before anything is created."""
    try:
        mode = path.stat().st_mode
    except OSError:  # missing (created later), or its folder is unusable: said when creating it
        return
    if stat.S_ISDIR(mode):
        raise UnusablePathError(
            f"HAIER_DUCKDB_PATH ({path}) is a folder; point it at a file in it, such as "
            f"{path / 'haier.duckdb'}. Nothing was written."
        )
    if not stat.S_ISREG(mode):
        raise UnusablePathError(
            f"HAIER_DUCKDB_PATH ({path}) is not a regular file (a device, a pipe or a socket); "
            "point it at a DuckDB file such as data/haier.duckdb. Nothing was written."
        )


def _readable_by_target(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open file's storage format is no newer than ``STORAGE_VERSION``."""
    [(tags,)] = con.execute(
        "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return _version(tags.get("storage_version", "")) <= _version(STORAGE_VERSION)


def _version(text: str) -> tuple[int, ...]:
    """'v1.4.0+' -> (1, 4, 0); an unknown text counts as newest, so the file is converted."""
    try:
        return tuple(int(part) for part in text.strip("v+").split("."))
    except ValueError:
        return (999,)


def _set_up_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing, (re)define views and comments, and start the histories of a
    file written before they existed: once per schema declaration, not at every connect."""
    con.execute(PIPELINE_SCHEMA.ddl())
    current = con.execute(f"SELECT fingerprint FROM {PIPELINE_SCHEMA.name}").fetchall()
    if current == [(SCHEMA_FINGERPRINT,)]:
        return
    with atomic(con):
        for table in ALL_TABLES:
            _add_account_column(con, table)
        for statement in schema_statements():
            con.execute(statement)
        for history in HISTORIES:
            seed_from_current(con, history)
        con.execute(f"DELETE FROM {PIPELINE_SCHEMA.name}")
        con.execute(
            f"INSERT INTO {PIPELINE_SCHEMA.name} VALUES (?, ?)", [SCHEMA_FINGERPRINT, utcnow()]
        )


def _add_account_column(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Give a table of a single-account file its ``account`` column, every row ``default``.

    The column is part of the key, and DuckDB cannot change a primary key in place, so the
    table is rebuilt under its declaration (inside the caller's transaction: all or
    nothing). A column the declaration does not know would be lost, so it stops the set-up.
    """
    if ACCOUNT not in table.fields:
        return
    found = [
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ?",
            [table.name],
        ).fetchall()
    ]
    if not found or ACCOUNT.name in found:
        return
    unknown = sorted(set(found) - set(table.column_names))
    if unknown:
        raise StorageError(
            f"table {table.name} of the pipeline's working file has column(s) "
            f"{', '.join(unknown)} this release does not know; nothing was changed. Open it "
            "with the release that wrote it, or copy those columns out first."
        )
    kept = ", ".join(found)
    rebuilt = f"{table.name}__accounts"
    con.execute(table.ddl(rebuilt))
    con.execute(
        f"INSERT INTO {rebuilt} ({ACCOUNT.name}, {kept}) SELECT ?, {kept} FROM {table.name}",
        [DEFAULT_ACCOUNT],
    )
    con.execute(f"DROP TABLE {table.name}")
    con.execute(f"ALTER TABLE {rebuilt} RENAME TO {table.name}")


_FLOCK = "hhqqi4x"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid


def _lock_shared(fd: int) -> bool:
    """Take an open-file-description read lock on the whole file, without waiting."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, 0, 0, 0, 0))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _writer_pid(fd: int) -> int | None:
    """The pid of the process holding a write lock on the file, if the kernel tells it."""
    answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, 0, 0, 0, 0))
    lock_type, _, _, _, pid = struct.unpack(_FLOCK, answer)
    return pid if lock_type != fcntl.F_UNLCK and pid > 0 else None


def _process_name(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "its command line is not visible"
    command = " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split())
    return command[:120] or "no command line"  # one line, however the command was written
