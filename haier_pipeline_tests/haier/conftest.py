"""Fixtures for the Haier client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haier_pipeline_tests.haier.stub import StubServer, start_stub


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server, stop = start_stub()
    yield server
    stop()
