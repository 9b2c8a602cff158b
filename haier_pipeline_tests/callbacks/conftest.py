"""Fixtures for callback tests: a spool folder and a running receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "callbacks"


@pytest.fixture
def receiver(spool_dir: Path) -> Iterator[CallbackReceiver]:
    with CallbackReceiver(spool_dir, AccountKey(APP_KEY, SECRET)) as running:
        yield running
