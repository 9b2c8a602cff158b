"""Alerts delivered to loopback targets of every kind, over real HTTP (issue 17 item 8)."""

from __future__ import annotations

import logging
import socket

import pytest

from haier_pipeline.alerts.formats import dingtalk_sign
from haier_pipeline.alerts.message import Alert
from haier_pipeline.alerts.sender import (
    AlertSender,
    AlertTarget,
    DeliveredKeys,
    RateLimiter,
    target_from_env,
)
from haier_pipeline.environment import ALERT_KINDS, SettingError
from haier_pipeline_tests.alerts.webhooks import (
    DINGTALK_TOKEN,
    SECRET,
    SLACK_PATH,
    WECOM_KEY,
    Target,
)

ALERT = Alert(
    kind="run_failed",
    key="run_failed:1234",
    job="catalog_sync",
    account="north",
    text="stock for account north: Haier refused the call (密码错误); fix NORTH_SELLER_PASSWORD",
    run_id="1234",
    run_url="http://127.0.0.1:3000/runs/1234",
)
URL_SECRETS = (WECOM_KEY, DINGTALK_TOKEN, SLACK_PATH)


def _sender(target: Target, secret: str = SECRET, burst: int = 20) -> AlertSender:
    return AlertSender(
        AlertTarget(target.kind, target.url, secret), RateLimiter(burst), DeliveredKeys()
    )


@pytest.mark.parametrize("kind", ALERT_KINDS)
def test_each_kind_is_delivered_in_its_documented_shape_without_any_secret(kind: str) -> None:
    with Target(kind) as target:
        assert _sender(target).send(ALERT) is True

    [request] = target.received
    assert target.problems == []
    [text] = target.texts()
    assert "catalog_sync" in text and "north" in text and "密码错误" in text
    assert "http://127.0.0.1:3000/runs/1234" in text
    for secret in (SECRET, *URL_SECRETS):
        assert secret.encode() not in request.raw


def test_a_webhook_alert_carries_the_contract_fields() -> None:
    with Target("webhook") as target:
        _sender(target).send(ALERT)

    body = target.received[0].body
    assert body["kind"] == "run_failed"
    assert body["job"] == "catalog_sync"
    assert body["account"] == "north"
    assert body["run_id"] == "1234"
    assert body["text"].startswith("stock for account north")


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_a_wrong_signing_secret_is_refused_by_the_target_and_reported_false(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Target(kind) as target, caplog.at_level(logging.WARNING, "haier_pipeline.alerts"):
        assert _sender(target, secret="not-the-robot-secret").send(ALERT) is False

    assert target.problems and "sign" in target.problems[0]
    assert "not delivered" in caplog.text


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_signed_kinds_without_a_secret_are_sent_unsigned(kind: str) -> None:
    """A robot secured by keyword or IP list instead of signing takes unsigned messages."""
    with Target(kind, signed=False) as target:
        assert _sender(target, secret="").send(ALERT) is True
    body = target.received[0].body
    assert "sign" not in body and "sign=" not in target.received[0].path


def test_a_dead_webhook_is_logged_masked_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}"
    sender = AlertSender(AlertTarget("wecom", url), RateLimiter(), DeliveredKeys())

    with caplog.at_level(logging.INFO, "haier_pipeline.alerts"):
        assert sender.send(ALERT) is False

    assert "not delivered: ConnectionError" in caplog.text
    assert WECOM_KEY not in caplog.text


def test_a_target_answering_500_is_reported_false() -> None:
    with Target("webhook", refuse=True) as target:
        assert _sender(target).send(ALERT) is False
    assert len(target.received) == 1


def test_the_same_alert_is_delivered_once() -> None:
    with Target("slack") as target:
        sender = _sender(target)
        assert sender.send(ALERT) is True
        assert sender.send(ALERT) is True  # already delivered: not sent again
    assert len(target.received) == 1


def test_past_the_rate_limit_alerts_are_held_back_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alerts = [Alert("order", f"order:{n}", "push_orders", "north", f"order {n}") for n in range(5)]
    with Target("webhook") as target, caplog.at_level(logging.WARNING, "haier_pipeline.alerts"):
        sender = _sender(target, burst=3)
        results = [sender.send(alert) for alert in alerts]

    assert results == [True, True, True, False, False]
    assert len(target.received) == 3
    assert "more than 3 alerts in 60 s" in caplog.text


def test_a_long_text_is_cut_to_fit_wecom() -> None:
    long = Alert("order", "order:long", "push_orders", "north", "失" * 5000)
    with Target("wecom") as target:
        assert _sender(target).send(long) is True
    assert len(target.texts()[0].encode()) < 4096  # WeCom's markdown limit in bytes


def test_the_dingtalk_signature_matches_a_published_test_vector() -> None:
    """The vector of the `dingding` crate's tests (timestamp 1700000000000, secret "secret"),
    computed by DingTalk's documented algorithm independently of this project."""
    assert dingtalk_sign("secret", 1_700_000_000_000) == (
        "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"
    )


# -- configuration ------------------------------------------------------------------------


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HAIER_ALERT_KIND", "HAIER_ALERT_WEBHOOK_URL", "HAIER_ALERT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_webhook_url_means_no_alerts(alert_env: pytest.MonkeyPatch) -> None:
    alert_env.setenv("HAIER_ALERT_KIND", "dingtalk")
    assert target_from_env() is None


def test_the_kind_defaults_to_webhook(alert_env: pytest.MonkeyPatch) -> None:
    alert_env.setenv("HAIER_ALERT_WEBHOOK_URL", "https://example.invalid/hook")
    target = target_from_env()
    assert target is not None and target.kind == "webhook" and target.secret == ""


def test_an_unknown_kind_is_refused_with_one_line_naming_it(
    alert_env: pytest.MonkeyPatch,
) -> None:
    alert_env.setenv("HAIER_ALERT_WEBHOOK_URL", "https://example.invalid/hook")
    alert_env.setenv("HAIER_ALERT_KIND", "teams")
    with pytest.raises(SettingError, match="HAIER_ALERT_KIND='teams' is not one of wecom"):
        target_from_env()


def test_a_bad_webhook_url_is_refused_without_showing_it(alert_env: pytest.MonkeyPatch) -> None:
    alert_env.setenv("HAIER_ALERT_WEBHOOK_URL", f"ftp://robot.invalid/send?key={WECOM_KEY}")
    with pytest.raises(SettingError) as refused:
        target_from_env()
    assert "HAIER_ALERT_WEBHOOK_URL=(value hidden)" in str(refused.value)
    assert WECOM_KEY not in str(refused.value)
