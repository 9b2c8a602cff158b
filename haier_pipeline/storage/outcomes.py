"""How a sync's outcome is told in sync_log: its status and a sample of what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ERRORS_KEPT = 5
"""Distinct errors quoted in a sync_log message: enough to act on, short enough to read."""


def sync_status(succeeded: int, failed: int) -> str:
    """success when nothing failed, failed when nothing succeeded, partial in between."""
    if failed == 0:
        return "success"
    return "failed" if succeeded == 0 else "partial"


@dataclass
class ErrorSample:
    """The first few distinct error texts of a sync, for its message (the rest are counted)."""

    texts: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.texts and len(self.texts) < MAX_ERRORS_KEPT:
            self.texts.append(text)

    def __bool__(self) -> bool:
        return bool(self.texts)

    def __str__(self) -> str:
        return " | ".join(self.texts)
