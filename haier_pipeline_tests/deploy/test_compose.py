"""deploy/compose.yaml: a valid Compose file (the compose-spec parser, offline), and who may
reach what. Docker itself is not here; the image is run with podman in the container suite."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose.yaml"
ROLES = {"postgres", "code-server", "webserver", "daemon", "callback-receiver"}


def _with_defaults(text: str) -> str:
    """The file as Compose reads it when no variable is set: ${VAR:-default} -> default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(_with_defaults(COMPOSE.read_text()))["services"]
    return services


def test_the_compose_file_parses_as_the_compose_spec() -> None:
    document = yaml.safe_load(_with_defaults(COMPOSE.read_text()))  # resolves <<: merges
    assert set(PyCompose.from_json(json.dumps(document)).service_names()) == ROLES


def test_the_parser_refuses_a_misspelt_key() -> None:
    document = yaml.safe_load(_with_defaults(COMPOSE.read_text()))
    document["services"]["daemon"]["healthchek"] = document["services"]["daemon"].pop("healthcheck")
    with pytest.raises(ValueError, match="healthchek"):
        PyCompose.from_json(json.dumps(document))


def test_only_the_receiver_is_public_the_ui_is_on_loopback_postgres_never() -> None:
    published = {name: s.get("ports", []) for name, s in _services().items()}
    assert published["callback-receiver"] == ["8766:8766"]
    assert published["webserver"] == ["127.0.0.1:3000:3000"]
    for name in ("postgres", "code-server", "daemon"):
        assert published[name] == [], name


def test_every_service_restarts_and_reports_its_health() -> None:
    for name, service in _services().items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name


def test_one_data_volume_for_the_code_server_and_the_receiver() -> None:
    services = _services()
    mounts = {name: s.get("volumes", []) for name, s in services.items()}
    assert mounts["code-server"] == mounts["callback-receiver"] == ["./data:/data"]
    assert not mounts["webserver"] and not mounts["daemon"]
    image_env = (REPO / "Dockerfile").read_text()
    assert "HAIER_DATA_DIR=/data" in image_env  # the paths resolve on this volume


def test_haier_secrets_reach_only_the_code_server_and_the_receiver() -> None:
    services = _services()
    files = {name: s["env_file"] for name, s in services.items()}
    as_lists = {name: f if isinstance(f, list) else [f] for name, f in files.items()}
    holders = {name for name, f in as_lists.items() if "haier.env" in f}
    assert holders == {"code-server", "callback-receiver"}
    budget = services["code-server"]["environment"]["HAIER_BUDGET_URL"]
    parts = urlsplit(budget)
    assert (parts.scheme, parts.hostname, parts.password) == ("postgresql", "postgres", None)
    for name, service in services.items():  # no secret written into the file itself
        for key in service.get("environment", {}):
            assert not key.endswith(("PASSWORD", "SECRET")), (name, key)
