"""Secrets and tokens never reach a log line."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse

import pytest

from haier_pipeline.haier import masking


def test_registered_secrets_are_masked_longest_first() -> None:
    masking.register_secrets(["abc-secret", "abc-secret-longer", None, ""])
    assert masking.mask("x abc-secret-longer y abc-secret") == "x *** y ***"


def test_bearer_and_basic_credentials_are_masked_even_unregistered() -> None:
    text = "headers={'Authorization': 'Bearer eyJhbGciOi.J9x-y_z'} basic QUJDOkRFRg=="
    assert masking.mask(text) == "headers={'Authorization': 'Bearer ***'} basic ***"


def test_logger_filter_masks_arguments_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    masking.register_secrets(["hunter2-Token"])
    log = masking.get_logger("haier_pipeline.test_masking")
    caplog.set_level(logging.DEBUG)
    log.info("token is %s", "hunter2-Token")
    try:
        raise RuntimeError("failed with hunter2-Token")
    except RuntimeError:
        log.exception("call failed")
    assert "hunter2-Token" not in caplog.text
    assert "token is ***" in caplog.text
    assert "RuntimeError: failed with ***" in caplog.text


def test_get_logger_attaches_one_filter() -> None:
    log = masking.get_logger("haier_pipeline.test_masking.once")
    masking.get_logger("haier_pipeline.test_masking.once")
    assert sum(isinstance(f, masking.MaskingFilter) for f in log.filters) == 1


def test_filter_works_on_handlers_too() -> None:
    masking.register_secrets(["handler-Secret-1"])
    record = logging.LogRecord(
        "other", logging.INFO, __file__, 1, "%s", ("handler-Secret-1",), None
    )
    assert masking.MaskingFilter().filter(record)
    assert record.getMessage() == "***"


# A secret with characters every encoding changes: '@' '+' '/' '"' '\' and a non-ASCII one.
AWKWARD = 'Hq7@Lm2+Zp9/x"k\\v=é'


@pytest.mark.parametrize(
    "form",
    [
        "form-encoded (application/x-www-form-urlencoded)",
        "percent-encoded",
        "percent-encoded as in a URL path",
        "JSON-escaped",
        "JSON-escaped, non-ASCII as \\u",
        "base64",
        "URL-safe base64",
    ],
)
def test_every_encoded_form_of_a_secret_is_masked(form: str) -> None:
    masking.register_secrets([AWKWARD])
    encoded = {
        "form-encoded (application/x-www-form-urlencoded)": urllib.parse.quote_plus(AWKWARD),
        "percent-encoded": urllib.parse.quote(AWKWARD, safe=""),
        "percent-encoded as in a URL path": urllib.parse.quote(AWKWARD),
        "JSON-escaped": json.dumps(AWKWARD, ensure_ascii=False)[1:-1],
        "JSON-escaped, non-ASCII as \\u": json.dumps(AWKWARD)[1:-1],
        "base64": base64.b64encode(AWKWARD.encode()).decode(),
        "URL-safe base64": base64.urlsafe_b64encode(AWKWARD.encode()).decode(),
    }[form]
    assert encoded != AWKWARD
    masked = masking.mask(f"502 Bad Gateway; you sent: password={encoded}&grant_type=password")
    assert encoded not in masked
    assert "password=***&grant_type=password" in masked
