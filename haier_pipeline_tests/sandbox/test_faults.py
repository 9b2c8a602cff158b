"""Each fault switch and the rate limit has an effect a client can observe."""

from __future__ import annotations

import time

import pytest
import requests

from haier_pipeline.sandbox import FaultConfig, SandboxServer
from haier_pipeline_tests.sandbox.conftest import Caller


def _price_call(caller: Caller, **kw):
    return caller.jsh("prices", caller.prices_body(caller.sandbox.catalog.codes[:3]), **kw)


def test_latency_delays_every_call(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(latency_s=0.15)
    started = time.perf_counter()
    assert _price_call(caller, token=token).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_error_rate_one_answers_only_server_errors(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(error_rate=1.0)
    statuses = {_price_call(caller, token=token).status_code for _ in range(30)}
    assert statuses <= {500, 502, 503, 504} and len(statuses) > 1
    assert caller.sandbox.stats()["sent_5xx"] == 30
    assert caller.sandbox.stats()["served"] == {}


def test_error_rate_is_a_fraction(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(error_rate=0.3, seed=3)
    statuses = [_price_call(caller, token=token).status_code for _ in range(100)]
    assert 10 < sum(s >= 500 for s in statuses) < 50


def test_drop_closes_the_connection_without_an_answer(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        _price_call(caller, token=token)
    assert caller.sandbox.stats()["drops"] == 1
    caller.sandbox.faults = FaultConfig()
    assert _price_call(caller, token=token).status_code == 200  # server still healthy


def test_html_answers_are_200_but_not_json(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(html_rate=1.0)
    response = _price_call(caller, token=token)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    assert caller.sandbox.stats()["html_sent"] == 1


def test_slow_answers_trip_client_timeouts(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(slow_rate=1.0, slow_s=0.5)
    with pytest.raises(requests.Timeout):
        _price_call(caller, token=token, timeout=0.2)
    assert caller.sandbox.stats()["slow_answers"] == 1


def test_429_bursts_come_every_n_calls(caller) -> None:
    token = caller.jsh_token()
    caller.sandbox.faults = FaultConfig(burst_429_every=5, burst_429_length=2)
    responses = [_price_call(caller, token=token) for _ in range(12)]
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 4 + [429, 429] + [200] * 3 + [429, 429, 200]
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 429)
    assert caller.sandbox.stats()["sent_429"] == 4


def test_tokens_are_revoked_every_n_calls(caller) -> None:
    caller.sandbox.faults = FaultConfig(revoke_tokens_every=3)
    token = caller.jsh_token()  # call 1
    assert _price_call(caller, token=token).status_code == 200  # call 2
    assert _price_call(caller, token=token).status_code == 401  # call 3 revokes first
    fresh = caller.jsh_token()  # call 4
    assert _price_call(caller, token=fresh).status_code == 200  # call 5
    assert caller.sandbox.stats()["token_revocations"] == 1


def test_malformed_codes_break_their_records_on_every_endpoint(caller) -> None:
    catalog = caller.sandbox.catalog
    bad = sorted(FaultConfig.malformed_sample(catalog, 6))
    good = next(p.code for p in catalog if p.procurable and p.has_price and p.code not in bad)
    caller.sandbox.faults = FaultConfig(malformed_codes=frozenset(bad))
    products = caller.jsh("products", caller.products_body([*bad, good])).json()["data"]
    broken = [
        r for r in products if "productCode" not in r or isinstance(r["productLageUrls"], str)
    ]
    assert len(broken) == len(bad)
    assert {r.get("productCode") for r in broken} & {good} == set()
    assert {"productCode" not in r for r in broken} == {True, False}  # both kinds of breakage
    everything = caller.jsh("products", caller.products_body()).json()["data"]
    assert (
        sum("productCode" not in r or isinstance(r["productLageUrls"], str) for r in everything)
        == 6
    )
    prices = caller.jsh("prices", caller.prices_body([*bad, good])).json()["data"]
    assert [r["supplyPrice"] == "abc" for r in prices] == [True] * 6 + [False]
    stock = caller.jsh("stock", caller.stock_body(bad[0])).json()["data"]
    levels = stock if isinstance(stock, list) else [stock]
    assert {level["stock"] for level in levels} == {"N/A"}


def test_faults_never_touch_admin_endpoints(caller) -> None:
    caller.sandbox.faults = FaultConfig(error_rate=1.0, drop_rate=1.0, latency_s=1.0)
    started = time.perf_counter()
    stats = requests.get(caller.sandbox.base_url + "/_sandbox/stats", timeout=5)
    assert stats.status_code == 200 and stats.json()["total_calls"] == 0
    assert time.perf_counter() - started < 0.5


def test_same_fault_seed_repeats_the_same_faults(caller) -> None:
    token = caller.jsh_token()
    runs = []
    for _ in range(2):
        caller.sandbox.faults = FaultConfig(error_rate=0.5, seed=11)
        runs.append([_price_call(caller, token=token).status_code for _ in range(20)])
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


def test_fault_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_s"):
        FaultConfig(latency_s=-1)
    with pytest.raises(ValueError, match="unknown fault setting"):
        FaultConfig.from_mapping({"eror_rate": 0.1})


def test_rate_limit_allows_a_burst_of_its_size_then_429s() -> None:
    with SandboxServer(size=20, rate_limit=20) as sandbox:
        caller = Caller(sandbox)
        started = time.monotonic()
        token = caller.jsh_token()  # the token call counts too
        answered = [_price_call(caller, token=token) for _ in range(19)]
        while answered[-1].status_code == 200 and len(answered) < 100:
            answered.append(_price_call(caller, token=token))
        elapsed = time.monotonic() - started
        limited = answered.pop()
        assert {a.status_code for a in answered} == {200}
        # 19 calls beside the token's, plus what the bucket refilled (20/s) meanwhile: on a
        # loaded machine the burst takes long enough for a token or two to come back.
        assert 19 <= len(answered) <= 19 + int(elapsed * 20) + 1
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert caller.ylh_token()  # another client_id has its own bucket
        time.sleep(0.2)  # refills 4 calls
        assert _price_call(caller, token=token).status_code == 200


def test_a_client_pacing_itself_at_the_limit_never_sees_429() -> None:
    with SandboxServer(size=20, rate_limit=100) as sandbox:
        caller = Caller(sandbox)
        token = caller.jsh_token()
        started = time.perf_counter()
        for n in range(120):  # more calls than the bucket holds, evenly at 100/s
            time.sleep(max(0.0, started + n / 100 - time.perf_counter()))
            assert _price_call(caller, token=token).status_code == 200
        assert sandbox.stats()["sent_429"] == 0


def test_zero_rate_limit_is_unlimited() -> None:
    with SandboxServer(size=20, rate_limit=0) as sandbox:
        caller = Caller(sandbox)
        token = caller.jsh_token()
        assert {_price_call(caller, token=token).status_code for _ in range(150)} == {200}
