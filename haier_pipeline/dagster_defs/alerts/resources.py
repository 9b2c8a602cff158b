"""Where the alert sensors send: HAIER_ALERT_KIND, HAIER_ALERT_WEBHOOK_URL, HAIER_ALERT_SECRET
and HAIER_UI_URL, as fields that hold the variables' names (``EnvVar``), never their values.

Unlike the pipeline's other resources, an unusable setting does not raise: an alert sensor
that raised would fail every tick and report nothing. It logs one line naming the variable
and sends nothing until the setting is fixed.
"""

from __future__ import annotations

from typing import Annotated

from dagster import InitResourceContext

from haier_pipeline import environment as env
from haier_pipeline.alerts.sender import AlertSender, target_from_env
from haier_pipeline.dagster_defs.resources import EnvResource
from haier_pipeline.environment import SettingError
from haier_pipeline.haier.masking import get_logger

LOG = get_logger("haier_pipeline.alerts")


class AlertsResource(EnvResource):
    """The alert target, or none (HAIER_ALERT_WEBHOOK_URL unset): then sensors skip."""

    kind: Annotated[str, env.HAIER_ALERT_KIND] = "webhook"
    webhook_url: Annotated[str, env.HAIER_ALERT_WEBHOOK_URL] = ""
    secret: Annotated[str, env.HAIER_ALERT_SECRET] = ""
    ui_url: Annotated[str, env.HAIER_UI_URL] = ""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Nothing is checked here: :meth:`sender` reports a bad setting without raising."""

    def sender(self) -> AlertSender | None:
        """The sender for the configured target; None when alerts are off or misconfigured."""
        try:
            target = target_from_env(self.kind, self.webhook_url, self.secret)
        except SettingError as problem:
            LOG.warning("alerts are off: %s", problem)
            return None
        return AlertSender(target) if target else None

    def ui(self) -> str:
        """HAIER_UI_URL, or "" (no links) when unset or not a URL."""
        try:
            return env.HAIER_UI_URL.value(self.ui_url)
        except SettingError as problem:
            LOG.warning("alerts carry no run links: %s", problem)
            return ""
