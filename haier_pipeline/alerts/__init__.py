"""Alerts where the team chats: WeCom, DingTalk and Feishu group robots, Slack, or plain JSON.

Vendor-neutral and free of Dagster: :mod:`.message` says what happened, :mod:`.formats` turns
it into each vendor's documented request (with its signature), :mod:`.sender` posts it with a
rate limit and never raises. The sensors that decide *when* to alert live in
``haier_pipeline.dagster_defs.alerts``.
"""
