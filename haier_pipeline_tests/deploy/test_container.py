"""The image (Dockerfile) built from a local Debian base and run with podman: catalog_sync in
the container against the sandbox on loopback, with Dagster's storage in a private
PostgreSQL, publishing into a host folder mounted at /data, read from the host and from an
analyst's container that mounts the folder read-only.

No registry is reachable here, so the base image is made from a Debian root filesystem
(debootstrap, then ``podman import``) and kept in podman's store between runs. pip inside the
build reaches PyPI through this machine's TLS proxy: its CA bundle is passed as a build
secret, never copied into the image. See docs/deploy.md for the recipe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import duckdb
import pytest

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline_tests.postgres import PostgresCluster

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/debian-py:bookworm"
IMAGE = "localhost/haier-pipeline:test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_USER = 10001
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
"""crun fails here on rlimits and hybrid cgroups; runc with cgroupfs works."""
RUN = [*PODMAN, "run", "--rm", "--network", "host",
       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]  # fmt: skip


def _tools_or_skip() -> None:
    missing = [t for t in ("podman", "buildah", "runc", "debootstrap") if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (apt-get install -y podman buildah runc "
                    "debootstrap)")  # fmt: skip


def _run(
    command: list[str],
    timeout: float,
    stdin: IO[bytes] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        command, stdin=stdin, env=env, capture_output=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result


def _base_image() -> None:
    """A Debian bookworm image with python3 and venv, made once and kept in podman's store."""
    if subprocess.run([*PODMAN, "image", "exists", BASE_IMAGE]).returncode == 0:
        return
    root = Path(tempfile.mkdtemp(prefix="haier-rootfs-"))
    try:
        _run(["debootstrap", "--variant=minbase",
              "--include=python3,python3-venv,ca-certificates", "bookworm", str(root / "fs")],
             timeout=900)  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", str(root / "fs"), "-c", "."], stdout=subprocess.PIPE)
        _run([*PODMAN, "import", "-", BASE_IMAGE], timeout=600, stdin=tar.stdout)
        assert tar.wait(timeout=60) == 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    _tools_or_skip()
    _base_image()
    _run(["buildah", "bud", "--isolation", "chroot", "--network", "host",
          "--secret", f"id=pip-ca,src={HOST_CA}", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
          "-t", IMAGE, str(REPO)], timeout=1200)  # fmt: skip
    try:
        yield IMAGE
    finally:
        # Only the base image is kept: a 1 GB image per run would fill the disk.
        subprocess.run([*PODMAN, "rmi", "--force", IMAGE], capture_output=True, timeout=300)


def test_the_image_runs_as_a_user_and_holds_no_secret_or_ca(image: str) -> None:
    who = _run([*RUN, image, "id", "-u"], timeout=120).stdout.decode().strip()
    assert who == str(IMAGE_USER)
    leftovers = _run([*RUN, image, "sh", "-c", "find /run/secrets -type f -size +0"],
                     timeout=120)  # fmt: skip
    assert leftovers.stdout.strip() == b""
    env = _run([*PODMAN, "image", "inspect", "--format", "{{.Config.Env}}", image], timeout=60)
    assert not any(word in env.stdout for word in (b"PASSWORD=", b"SECRET=", b"PIP_CERT"))


def test_catalog_sync_in_the_container_publishes_a_file_the_host_reads(
    image: str, postgres: PostgresCluster, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, IMAGE_USER, IMAGE_USER)
    database = f"dagster_{uuid.uuid4().hex[:12]}"
    postgres.create_database(database)
    with SandboxServer(size=80, seed=5, rate_limit=None) as sandbox:
        settings = {
            **sandbox.env(HAIER_RATE_LIMIT="1000"),
            **postgres.env(),
            "DAGSTER_PG_DB": database,
        }
        # -e NAME passes the value from podman's environment: no secret on its command line.
        names = [arg for name in settings for arg in ("-e", name)]
        result = _run([*RUN, "-v", f"{data}:/data", *names, image,
                       "dagster", "job", "execute", "-m", "haier_pipeline", "-j", "catalog_sync"],
                      timeout=600, env={**os.environ, **settings})  # fmt: skip
        procurable = len(sandbox.catalog.procurable)
    published = data / "haier.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute("SELECT account, count(*) FROM products GROUP BY 1").fetchall()
    assert rows == [("default", procurable)]
    # An analyst's notebook container with the folder mounted read-only opens it read-only.
    query = (
        "import duckdb; print(duckdb.connect('/data/haier.duckdb', read_only=True)"
        ".execute('SELECT count(*) FROM products').fetchone()[0])"
    )
    seen = _run([*RUN, "-v", f"{data}:/data:ro", image, "python3", "-c", query], timeout=120)
    assert seen.stdout.decode().strip() == str(procurable)
    secrets = [v for k, v in settings.items() if k.endswith(("SECRET", "PASSWORD"))]
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert not any(s in output for s in secrets)
