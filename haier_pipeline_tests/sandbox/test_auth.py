"""Token endpoints of both systems, bearer handling, expiry and realm separation."""

from __future__ import annotations

import time

import requests

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.protocol import JSH_PATHS
from haier_pipeline_tests.sandbox.conftest import Caller


def _jsh_token(sandbox: SandboxServer, path: str = "/oauth2/auth", **changes: str):
    a = sandbox.account
    body = {
        "client_id": a.client_id,
        "client_secret": a.client_secret,
        "grant_type": "client_credentials",
    } | changes
    return requests.post(sandbox.base_url + path, json=body, timeout=5)


def _ylh_token(sandbox: SandboxServer, headers=None, auth=None, **form: str):
    a = sandbox.account
    data = {"grant_type": "password", "username": a.ylh_username, "password": a.ylh_password}
    return requests.post(
        sandbox.ylh_auth_url,
        auth=auth or (a.ylh_client_id, a.ylh_client_secret),
        headers={"system-name": "ylh-open-api"} if headers is None else headers,
        data=data | form,
        timeout=5,
    )


def test_jsh_token_on_both_paths(sandbox) -> None:
    flat = _jsh_token(sandbox).json()
    assert flat["token_type"] == "bearer" and flat["expires_in"] == 3600
    assert len(flat["access_token"]) > 20
    wrapped = _jsh_token(sandbox, "/oauth2/token").json()
    assert wrapped["success"] is True
    assert wrapped["data"]["access_token"] != flat["access_token"]
    assert sandbox.stats()["tokens_issued"] == 2


def test_jsh_wrong_credentials_are_401_and_bad_grant_is_400(sandbox) -> None:
    assert _jsh_token(sandbox, client_secret="guess").status_code == 401
    assert _jsh_token(sandbox, client_id="someone-else").status_code == 401
    bad_grant = _jsh_token(sandbox, grant_type="password")
    assert bad_grant.status_code == 400
    assert "grant_type" in bad_grant.json()["message"]
    assert sandbox.stats()["tokens_issued"] == 0


def test_token_paths_are_configurable_for_fallback_tests() -> None:
    with SandboxServer(size=10, jsh_token_paths=("/oauth2/token",)) as sandbox:
        assert _jsh_token(sandbox, "/oauth2/auth").status_code == 404
        assert _jsh_token(sandbox, "/oauth2/token").status_code == 200


def test_bearer_and_bare_tokens_are_accepted(caller) -> None:
    token = caller.jsh_token()
    body = caller.products_body([caller.sandbox.catalog.codes[0]])
    url = caller.sandbox.base_url + JSH_PATHS["products"]
    for header in (f"Bearer {token}", f"bearer {token}", token):
        answer = requests.post(url, json=body, headers={"Authorization": header}, timeout=5)
        assert answer.status_code == 200 and answer.json()["success"] is True


def test_missing_or_unknown_token_is_401(caller) -> None:
    body = caller.products_body([caller.sandbox.catalog.codes[0]])
    assert caller.jsh("products", body, token="").status_code == 401
    unknown = caller.jsh("products", body, token="not-a-token")
    assert unknown.status_code == 401
    assert unknown.json()["success"] is False and "token" in unknown.json()["message"]
    assert caller.sandbox.stats()["served"] == {}


def test_token_expires_after_its_ttl() -> None:
    with SandboxServer(size=10, token_ttl_s=0.3, rate_limit=0) as sandbox:
        caller = Caller(sandbox)
        token = caller.jsh_token()
        body = caller.products_body([sandbox.catalog.codes[0]])
        assert caller.jsh("products", body, token=token).status_code == 200
        time.sleep(0.4)
        assert caller.jsh("products", body, token=token).status_code == 401
        assert caller.jsh("products", body, token=caller.jsh_token()).status_code == 200


def test_ylh_password_grant(sandbox) -> None:
    answer = _ylh_token(sandbox)
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "bearer"
    assert answer.json()["expires_in"] == 3600


def test_ylh_token_refusals(sandbox) -> None:
    assert _ylh_token(sandbox, headers={}).status_code == 400  # no system-name header
    assert _ylh_token(sandbox, auth=("sandbox-ylh-client", "wrong")).status_code == 401
    assert _ylh_token(sandbox, password="wrong").status_code == 401
    assert _ylh_token(sandbox, grant_type="client_credentials").status_code == 400
    assert sandbox.stats()["tokens_issued"] == 0


def test_a_token_only_opens_its_own_system(caller) -> None:
    jsh_token, ylh_token = caller.jsh_token(), caller.ylh_token()
    body = caller.products_body([caller.sandbox.catalog.codes[0]])
    answer = caller.jsh("products", body, token=ylh_token)
    assert answer.status_code == 401 and "YLH token" in answer.json()["message"]
    assert caller.ylh("delivery_images", {"orderNo": "SO.1"}, token=jsh_token).status_code == 401
