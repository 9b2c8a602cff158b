"""The log a run's work writes to: Dagster's ``context.log`` in a run, a ``logging.Logger``
elsewhere (tests, benchmarks). The work modules know only this shape, not Dagster."""

from __future__ import annotations

from typing import Any, Protocol


class Log(Protocol):
    def info(self, msg: str, *args: Any) -> None: ...
    def warning(self, msg: str, *args: Any) -> None: ...
