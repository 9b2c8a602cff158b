"""What a user reads of a failed run: the messages of its failure events and their causes."""

from __future__ import annotations

from dagster import ExecuteInProcessResult


def failure_lines(result: ExecuteInProcessResult) -> list[str]:
    """Each failure event's error message, then its causes', as the UI lists them."""
    lines = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_failure else None
        while error is not None:
            lines.append(error.message.strip())
            error = error.cause
    return lines


def failure_text(result: ExecuteInProcessResult) -> str:
    """All of :func:`failure_lines` as one string, for ``in`` checks."""
    return " ".join(failure_lines(result))
