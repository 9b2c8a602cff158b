"""Haier catalog, prices, stock and orders, synced into DuckDB and run from Dagster.

Dagster's entry point is :mod:`haier_pipeline.definitions` (``defs`` there). The package
also exposes it as ``haier_pipeline.defs``, because the contract's commands load the package
(``dagster job execute -m haier_pipeline -j ...``). It is imported on first access (PEP 562),
so the client, the sandbox and the callback receiver start without importing Dagster. The
Dagster layer itself lives in :mod:`haier_pipeline.dagster_defs`, a different name, so
``haier_pipeline.defs`` only ever means the ``Definitions``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from haier_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module 'haier_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["defs"]
