"""One alert: what happened, to which job and account, and where to look.

The same facts go to every target; :mod:`haier_pipeline.alerts.formats` only changes the
envelope. ``key`` names the event once (a run, an order in a status, a table turning stale),
so that the sender can drop a repeat of something it already delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AlertKind = Literal["run_failed", "order", "freshness", "balance"]

MAX_TEXT_BYTES = 1500
"""WeCom's text message holds 2,048 bytes of UTF-8 (markdown 4,096): 1,500 bytes of text leave
room for the title and the link, and a longer text (Chinese takes 3 bytes a character) is
cut, not refused."""

TITLES: dict[str, str] = {
    "run_failed": "run failed",
    "order": "orders need attention",
    "freshness": "catalog table is stale",
    "balance": "balance warning",
}


@dataclass(frozen=True)
class Alert:
    """What happened (``text``, one or a few lines), for which job, account and run."""

    kind: AlertKind
    key: str
    job: str
    account: str
    text: str
    run_id: str | None = None
    run_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def title(self) -> str:
        """``[haier-pipeline] run failed: catalog_sync, account north``."""
        where = f", account {self.account}" if self.account else ""
        return f"[haier-pipeline] {TITLES[self.kind]}: {self.job}{where}"

    def body(self) -> str:
        """The text, cut to :data:`MAX_TEXT_BYTES`, with the run's link when there is one."""
        encoded = self.text.encode()
        text = self.text
        if len(encoded) > MAX_TEXT_BYTES:
            text = encoded[:MAX_TEXT_BYTES].decode(errors="ignore") + "…"
        return f"{text}\nrun: {self.run_url}" if self.run_url else text

    def as_json(self) -> dict[str, Any]:
        """The ``webhook`` payload: the contract's fields first, then anything more."""
        return {
            "kind": self.kind,
            "job": self.job,
            "account": self.account,
            "run_id": self.run_id,
            "text": self.body(),
            "title": self.title(),
            "run_url": self.run_url,
            **self.details,
        }


def run_url(ui_url: str, run_id: str) -> str | None:
    """The run's page in the Dagster UI (``{HAIER_UI_URL}/runs/{run_id}``), None without a UI."""
    return f"{ui_url.rstrip('/')}/runs/{run_id}" if ui_url else None
