"""A local emulator of the Haier JSH and YLH APIs (haier-api.md), for tests, benchmarks, demos."""

from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.sandbox.catalog import (
    DEFAULT_COUNTIES,
    SandboxCatalog,
    SandboxProduct,
    generate_catalog,
)
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.sandbox.server import SandboxServer

__all__ = [
    "DEFAULT_COUNTIES",
    "FaultConfig",
    "SandboxAccount",
    "SandboxCatalog",
    "SandboxProduct",
    "SandboxServer",
    "generate_catalog",
]
