"""Haier catalog, prices, stock and orders, synced into DuckDB and run from Dagster.

``defs`` is loaded on first access (PEP 562), so importing the client, the sandbox or the
callback receiver does not pay for importing Dagster; ``dagster ... -m haier_pipeline``
still finds it, because Dagster looks the module's members up by name.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from haier_pipeline.definitions import defs

        # Importing the definitions imports the subpackage haier_pipeline.defs, which binds
        # this module's attribute ``defs`` to that subpackage; bind it to the Definitions.
        globals()["defs"] = defs
        return defs
    raise AttributeError(f"module 'haier_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["defs"]
