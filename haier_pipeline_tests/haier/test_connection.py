"""The YLH probe judges the credentials by the token grant, not by what a gateway says of a
made-up order (a scripted gateway on 127.0.0.1)."""

from __future__ import annotations

from haier_pipeline.haier import connection, endpoints
from haier_pipeline.haier.endpoints import YLH_SERVICES
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline_tests.haier.stub import (
    FAST_RETRY,
    YLH_TOKEN_PATH,
    Answer,
    StubServer,
    ok,
    refused,
    ylh_settings,
)

LOGISTICS = "/ylh" + YLH_SERVICES.url("", endpoints.YLH_LOGISTICS_NUMBERS)


def _probe(stub: StubServer) -> connection.Probe:
    with YlhClient(ylh_settings(stub), retry=FAST_RETRY) as client:
        return connection.check_ylh(client)


def test_a_gateway_that_knows_no_such_order_still_has_working_credentials(
    stub: StubServer,
) -> None:
    stub.script(LOGISTICS, refused("Q-404", "订单不存在"))
    probe = _probe(stub)
    assert (probe.outcome, probe.code) == (connection.OK, "Q-404")
    assert "token granted" in probe.detail


def test_an_empty_answer_is_ok(stub: StubServer) -> None:
    stub.script(LOGISTICS, ok([]))
    assert _probe(stub).outcome == connection.OK


def test_a_refused_token_is_refused(stub: StubServer) -> None:
    stub.script(YLH_TOKEN_PATH, Answer(401, {"error": "invalid_grant"}))
    probe = _probe(stub)
    assert (probe.outcome, probe.code) == (connection.REFUSED, connection.TOKEN_REFUSED)
    assert not stub.calls(LOGISTICS)
