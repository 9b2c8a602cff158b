"""The shared call machinery, driven through JshClient against a scripted stub server:
envelope handling, which failures are retried, token refresh, statistics and masking."""

from __future__ import annotations

import logging
import time

import pytest

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.errors import (
    HaierAuthError,
    HaierBusinessError,
    HaierError,
    HaierHttpError,
    HaierProtocolError,
    HaierTransientError,
)
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.retry import RetryPolicy
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline_tests.haier.stub import (
    FAST_RETRY,
    SECRETS,
    TOKEN_PATH,
    YLH_TOKEN_PATH,
    Answer,
    StubServer,
    jsh_settings,
    ok,
    refused,
    ylh_settings,
)

BALANCE = endpoints.JSH_BALANCE
ROW = {"saleGroupCode": "SG10", "payerAccountBalance": "100.00"}
HTML = Answer(200, b"<!DOCTYPE html><html><body>maintenance</body></html>")


def client(stub: StubServer, retry: RetryPolicy = FAST_RETRY, **overrides: object) -> JshClient:
    return JshClient(jsh_settings(stub, **overrides), retry=retry)


def test_enveloped_and_bare_payloads_are_both_accepted(stub: StubServer) -> None:
    stub.script(BALANCE, ok([ROW]), Answer(200, [ROW]), Answer(200, ROW))
    with client(stub) as jsh:
        for _ in range(3):
            assert [b.sale_group_code for b in jsh.balance().records] == ["SG10"]


def test_business_failure_is_raised_and_not_retried(stub: StubServer) -> None:
    stub.script(BALANCE, refused("PASSWORD_WRONG", "密码错误"))
    with client(stub) as jsh, pytest.raises(HaierBusinessError) as caught:
        jsh.balance()
    assert caught.value.code == "PASSWORD_WRONG"
    assert caught.value.message == "密码错误"
    assert caught.value.endpoint == BALANCE
    assert "not retried" in str(caught.value)
    assert len(stub.calls(BALANCE)) == 1
    assert jsh.stats.business_failures == 1


def test_success_that_is_neither_true_nor_false_is_a_protocol_error(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(200, {"success": "maybe", "data": []}))
    with client(stub) as jsh, pytest.raises(HaierProtocolError, match="'success' is 'maybe'"):
        jsh.balance()


def test_server_errors_are_retried_until_success(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(503), Answer(502), ok([ROW]))
    with client(stub) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats == CallStats(calls=4, retries=2, http_5xx=2)


def test_retries_are_bounded_and_keep_the_last_cause(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(500, {"message": "boom"}))
    with client(stub) as jsh, pytest.raises(HaierTransientError) as caught:
        jsh.balance()
    assert caught.value.attempts == 4
    assert isinstance(caught.value.last_cause, HaierHttpError)
    assert caught.value.last_cause.status == 500
    assert "after 4 attempts" in str(caught.value)
    assert len(stub.calls(BALANCE)) == 4


def test_retry_after_is_honoured(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(429, headers=(("Retry-After", "0.2"),)), ok([ROW]))
    policy = RetryPolicy(base_delay_s=0.0, max_retry_after_s=1.0)
    with client(stub, retry=policy) as jsh:
        started = time.monotonic()
        jsh.balance()
        assert time.monotonic() - started >= 0.2
        assert jsh.stats.http_429 == 1


@pytest.mark.parametrize(("status", "hint"), [(400, "parameters"), (403, "IP allow-list")])
def test_client_errors_are_not_retried(stub: StubServer, status: int, hint: str) -> None:
    stub.script(BALANCE, Answer(status, {"message": "no"}))
    with client(stub) as jsh, pytest.raises(HaierHttpError, match=hint) as caught:
        jsh.balance()
    assert caught.value.status == status
    assert len(stub.calls(BALANCE)) == 1


def test_unknown_path_is_a_404_error_naming_the_endpoint(stub: StubServer) -> None:
    with client(stub) as jsh, pytest.raises(HaierHttpError, match="check the base URL") as caught:
        jsh.balance()  # nothing scripted for the balance path
    assert caught.value.status == 404
    assert BALANCE in str(caught.value)


def test_refused_token_is_refreshed_once_and_the_call_repeated(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(401), ok([ROW]))
    with client(stub) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats.token_refreshes == 1
    first, second = stub.calls(BALANCE)
    assert first.headers["Authorization"] == "Bearer tok-1"
    assert second.headers["Authorization"] == "Bearer tok-2"


def test_a_token_revoked_again_before_the_retry_is_refreshed_again(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(401), Answer(401), ok([ROW]))
    with client(stub) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats.token_refreshes == 2


def test_tokens_refused_every_time_are_an_auth_error_after_bounded_refreshes(
    stub: StubServer,
) -> None:
    stub.script(BALANCE, Answer(401))
    with client(stub) as jsh, pytest.raises(HaierAuthError, match="HAIER_CLIENT_SECRET"):
        jsh.balance()
    assert len(stub.calls(BALANCE)) == 4  # the call and 3 repeats, each with a new token
    assert len(stub.calls(TOKEN_PATH)) == 4


def test_html_instead_of_json_is_retried_then_a_protocol_error(stub: StubServer) -> None:
    stub.script(BALANCE, HTML)
    with client(stub) as jsh, pytest.raises(HaierProtocolError) as caught:
        jsh.balance()
    assert "not JSON (4 attempts in a row)" in str(caught.value)
    assert "<!DOCTYPE html>" in caught.value.excerpt
    assert jsh.stats.non_json == 4


def test_a_single_html_page_is_survived(stub: StubServer) -> None:
    stub.script(BALANCE, HTML, ok([ROW]))
    with client(stub) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats.non_json == 1


def test_dropped_connection_is_retried(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(drop=True), ok([ROW]))
    with client(stub) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats.dropped == 1
        assert jsh.stats.retries == 1


def test_timeout_is_retried(stub: StubServer) -> None:
    stub.script(BALANCE, Answer(delay_s=0.5, body={"data": []}), ok([ROW]))
    with client(stub, timeout_s=0.2) as jsh:
        assert len(jsh.balance().records) == 1
        assert jsh.stats.timeouts == 1


def test_unexpected_payload_shape_is_a_protocol_error(stub: StubServer) -> None:
    stub.script(BALANCE, ok("all good"))
    with client(stub) as jsh, pytest.raises(HaierProtocolError, match="data is str"):
        jsh.balance()


def test_token_under_data_is_found(stub: StubServer) -> None:
    stub.script(TOKEN_PATH, ok({"access_token": "nested-tok", "expires_in": 3600}))
    stub.script(BALANCE, ok([ROW]))
    with client(stub) as jsh:
        jsh.balance()
    assert stub.calls(BALANCE)[0].headers["Authorization"] == "Bearer nested-tok"


def test_token_request_is_client_credentials_json(stub: StubServer) -> None:
    stub.script(BALANCE, ok([]))
    with client(stub) as jsh:
        jsh.balance()
    (request,) = stub.calls(TOKEN_PATH)
    assert request.json() == {
        "client_id": "client-A",
        "client_secret": SECRETS[0],
        "grant_type": "client_credentials",
    }
    assert "Authorization" not in request.headers


def test_token_404_falls_back_to_oauth2_token_and_remembers_it(stub: StubServer) -> None:
    fallback = endpoints.JSH_TOKEN_FALLBACK
    stub.script(TOKEN_PATH, Answer(404))
    stub.script(fallback, ok({"access_token": "fallback-tok"}))
    stub.script(BALANCE, Answer(401), ok([ROW]))
    with client(stub) as jsh:
        jsh.balance()
    assert len(stub.calls(TOKEN_PATH)) == 1  # the refresh went straight to the fallback
    assert len(stub.calls(fallback)) == 2


def test_wrong_credentials_say_what_to_check_without_the_secret(stub: StubServer) -> None:
    stub.script(TOKEN_PATH, Answer(401, {"error": "invalid_client"}))
    with client(stub) as jsh, pytest.raises(HaierAuthError) as caught:
        jsh.balance()
    message = str(caught.value)
    assert "HAIER_CLIENT_ID and HAIER_CLIENT_SECRET" in message
    assert TOKEN_PATH in message
    assert not any(secret in message for secret in SECRETS)
    assert stub.calls(BALANCE) == []


def test_token_refused_as_business_failure_is_an_auth_error(stub: StubServer) -> None:
    stub.script(TOKEN_PATH, refused("CLIENT_UNKNOWN", "客户端不存在"))
    with client(stub) as jsh, pytest.raises(HaierAuthError, match="CLIENT_UNKNOWN"):
        jsh.balance()


def test_secrets_and_tokens_never_reach_the_log(
    stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"<html>{SECRETS[1]} Authorization: Bearer tok-1</html>".encode()
    stub.script(BALANCE, Answer(401), Answer(503, echo), Answer(200, echo), ok([ROW]))
    with client(stub) as jsh:
        jsh.balance()
    assert "retry" in caplog.text  # the failures were logged...
    for secret in (*SECRETS, "tok-1", "tok-2"):
        assert secret not in caplog.text  # ...without a secret or token in them


# -- issue 15, finding 4: what an error carries, chained exceptions included ---------------


def _whole_chain(error: BaseException) -> str:
    """Everything Dagster may store of a failure: the traceback with every chained cause."""
    import traceback

    return "".join(traceback.format_exception(error))


def test_an_unreachable_token_url_leaves_no_secret_in_the_exception_chain() -> None:
    secret = "qs-Secret-in-the-chain-41c7"
    settings = jsh_settings(
        StubServer(base_url="http://127.0.0.1:9"),
        token_url=f"http://127.0.0.1:9/oauth2/auth?client_secret={secret}",
        timeout_s=0.5,
    )
    with JshClient(settings, retry=FAST_RETRY) as jsh, pytest.raises(HaierTransientError) as caught:
        jsh.balance()
    chain = _whole_chain(caught.value)
    assert "cannot connect to 127.0.0.1:9 (connection refused)" in chain
    assert secret not in chain
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


AWKWARD_SECRET = 'Xk9"mQ2\\v+Sec/ret@7'  # every encoding changes it
AWKWARD_PASSWORD = "Hq7@Lm2+Zp9/w=x"


@pytest.mark.parametrize("status", [400, 502])
def test_the_answer_to_a_token_request_is_never_excerpted(stub: StubServer, status: int) -> None:
    """A gateway that answers by echoing the request: the token request's body (credentials,
    JSON- or form-encoded) never reaches the error, retried (502) or not (400)."""
    echo = lambda request: Answer(status, b"you sent: " + request.body)  # noqa: E731
    stub.script(TOKEN_PATH, echo)
    stub.script(YLH_TOKEN_PATH, echo)
    jsh = JshClient(jsh_settings(stub, client_secret=AWKWARD_SECRET), retry=FAST_RETRY)
    ylh = YlhClient(ylh_settings(stub, password=AWKWARD_PASSWORD), retry=FAST_RETRY)
    for call in (jsh.balance, lambda: ylh.delivery_images("SO.1")):
        with pytest.raises(HaierError) as caught:
            call()
        chain = _whole_chain(caught.value)
        assert "you sent" not in chain
        assert "Xk9" not in chain and "Hq7" not in chain
    jsh.close()
    ylh.close()


def test_an_echoing_502_for_a_data_call_shows_no_secret_in_any_encoding(stub: StubServer) -> None:
    stub.script(BALANCE, lambda request: Answer(502, b"bad gateway; body was " + request.body))
    settings = jsh_settings(stub, customer_password=AWKWARD_SECRET)
    with JshClient(settings, retry=FAST_RETRY) as jsh, pytest.raises(HaierTransientError) as caught:
        jsh.balance()
    chain = _whole_chain(caught.value)
    assert "bad gateway" in chain
    assert "Xk9" not in chain
    assert "***" in chain
