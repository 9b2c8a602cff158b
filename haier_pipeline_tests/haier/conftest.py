"""Fixtures for the Haier client tests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest

from haier_pipeline_tests.haier.stub import StubServer, start_stub
from haier_pipeline_tests.postgres import PostgresCluster, postgres  # noqa: F401 (a fixture)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server, stop = start_stub()
    yield server
    stop()


@pytest.fixture
def budget_url(postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """HAIER_BUDGET_URL of a fresh database on the session's cluster, set for this test and
    the processes it starts (so no row is left from another test)."""
    name = f"budget_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    url = dataclasses.replace(postgres, database=name).url()
    monkeypatch.setenv("HAIER_BUDGET_URL", url)
    return url
