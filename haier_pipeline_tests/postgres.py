"""A private PostgreSQL cluster for tests: Debian's server, a free loopback port, gone after.

Debian's PostgreSQL refuses to run as root, so the cluster belongs to the ``postgres`` system
user (``runuser -u postgres``) when the tests run as root, and to the current user otherwise.
Its data folder is made under the system temp folder, not pytest's ``tmp_path`` (mode 0700,
owned by root, which the ``postgres`` user cannot enter). The server listens on 127.0.0.1 only,
with password authentication for TCP, and its socket in the data folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "postgres"
PASSWORD = "pg-test-Secret-4821"


def server_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None when none is installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def require_postgres() -> Path:
    """Skip the test when no server is installed (``.ci/run`` installs Debian's ``postgresql``)."""
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    return bin_dir


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: where to reach it and how to log in."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def url(self, *, with_password: bool = True, scheme: str = "postgresql") -> str:
        secret = f":{self.password}" if with_password else ""
        return f"{scheme}://{self.user}{secret}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables of ``deploy/dagster.yaml`` for this cluster."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }

    def create_database(self, name: str) -> None:
        """A fresh database on this cluster (``CREATE DATABASE`` through psql)."""
        _psql(self, f'CREATE DATABASE "{name}"')


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *command] if os.geteuid() == 0 else command


def _psql(cluster: PostgresCluster, sql: str) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.host, "-p", str(cluster.port),
         "-U", cluster.user, "-d", "postgres", "-c", sql],
        env={**os.environ, "PGPASSWORD": cluster.password},
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip


@contextmanager
def postgres_cluster(database: str = "haier") -> Iterator[PostgresCluster]:
    """Start a private cluster with ``database`` created, yield it, stop it and delete it."""
    bin_dir = require_postgres()
    data = Path(tempfile.mkdtemp(prefix="haier-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SUPERUSER)
        os.chown(data, owner.pw_uid, owner.pw_gid)
    user = SUPERUSER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    password_file = data / "pwfile"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    cluster_dir = data / "cluster"
    port = free_port()
    run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        _as_owner([str(bin_dir / "initdb"), "-D", str(cluster_dir), "-U", user,
                   "--auth-local=trust", "--auth-host=scram-sha-256",
                   f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"]),
        **run,
    )  # fmt: skip
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster_dir), "-o", options,
                   "-l", str(data / "server.log"), "-w", "start"]),
        **run,
    )  # fmt: skip
    cluster = PostgresCluster("127.0.0.1", port, user, PASSWORD, database)
    try:
        cluster.create_database(database)
        yield cluster
    finally:
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster_dir), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One private cluster for the test session (import this fixture where it is needed)."""
    with postgres_cluster() as cluster:
        yield cluster
