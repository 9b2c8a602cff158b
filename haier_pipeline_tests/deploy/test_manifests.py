"""What can be checked here of the Kubernetes deployment, without a cluster, helm or the chart.

- The manifests (callback receiver, data volume) against Kubernetes' own OpenAPI schemas
  (``kubernetes-validate``, offline), strictly: an unknown field fails.
- The Helm values' run launcher block against dagster-k8s's ``K8sRunLauncher`` config schema,
  and the run coordinator, concurrency, monitoring and retention blocks against Dagster's
  instance schema, after the renaming the chart's instance ConfigMap does (camelCase values
  become snake_case ``dagster.yaml`` keys). That renaming is written here from the chart's
  templates; a real ``helm template`` render is not checked (docs/deploy.md).
- The Kubernetes objects the values embed (env, secrets, volumes, security contexts) as a Pod.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster_k8s import K8sRunLauncher

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / "deploy" / "helm"
K8S_VERSIONS = ["1.30", kubernetes_validate.latest_version()]


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((HELM / name).read_text()) if d]


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((HELM / "values.yaml").read_text())
    return values


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", ["callback-receiver.yaml", "data-volume.yaml"])
def test_the_manifests_are_valid_kubernetes_objects(name: str, version: str) -> None:
    for document in _documents(name):
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_broken_deployment() -> None:
    deployment = copy.deepcopy(_documents("callback-receiver.yaml")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_the_receiver_is_the_only_public_endpoint_and_mounts_the_shared_volume() -> None:
    deployment, service = _documents("callback-receiver.yaml")
    [claim] = _documents("data-volume.yaml")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["type"] == "ClusterIP"  # published through the cluster's TLS Ingress
    assert _values()["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def _run_launcher_config(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's rendering of ``runLauncher.config.k8sRunLauncher`` into dagster.yaml."""
    block = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        # Fields the chart fills in itself.
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "dagster_home": "/opt/dagster/dagster_home",
        "service_account_name": "dagster",
    }
    for key, value in block.items():
        if key == "envSecrets" or key == "envConfigMaps":
            config[_snake(key)] = [entry["name"] for entry in value]
        elif key == "runK8sConfig":
            config["run_k8s_config"] = {_snake(k): v for k, v in value.items()}
        else:
            config[_snake(key)] = value
    return config


def test_the_run_launcher_block_fits_dagster_k8s_schema() -> None:
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    result = validate_config(K8sRunLauncher.config_type(), _run_launcher_config(values))
    assert result.success, [e.message for e in result.errors]


def test_a_misspelt_run_launcher_field_is_refused_by_that_schema() -> None:
    config = _run_launcher_config(_values())
    config["image_pull_polcy"] = config.pop("image_pull_policy")
    assert not validate_config(K8sRunLauncher.config_type(), config).success


def _instance_blocks(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's rendering of the daemon's queue, concurrency, monitoring and retention."""
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    concurrency = values["concurrency"]
    monitoring = daemon["runMonitoring"]
    return {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {_snake(k): v for k, v in queued.items()},
        },
        "concurrency": {
            "pools": {_snake(k): v for k, v in concurrency["pools"].items()},
            "runs": {
                "tag_concurrency_limits": concurrency["runs"]["tagConcurrencyLimits"],
            },
        },
        "run_monitoring": {_snake(k): v for k, v in monitoring.items()},
        "retention": {
            kind: {"purge_after_days": values["retention"][kind]["purgeAfterDays"]}
            for kind in ("schedule", "sensor")
        },
    }


def test_the_queue_blocks_fit_dagsters_instance_schema_with_one_run_per_account(
    tmp_path: Path,
) -> None:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(_instance_blocks(_values())))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
    assert config.pool_config.default_pool_limit == 1
    assert config.run_queue_config is not None
    assert {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in config.run_queue_config.tag_concurrency_limits


def test_tag_limits_under_the_run_coordinator_with_pools_are_refused(tmp_path: Path) -> None:
    """Why the values put the per-account limit under ``concurrency``, not the daemon."""
    blocks = _instance_blocks(_values())
    limits = blocks["concurrency"].pop("runs")["tag_concurrency_limits"]
    blocks["run_coordinator"]["config"]["tag_concurrency_limits"] = limits
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(blocks))
    with (
        pytest.raises(DagsterInvalidConfigError),
        DagsterInstance.from_config(str(tmp_path)) as instance,
    ):
        instance.get_concurrency_config()


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_user_deployments_kubernetes_fields_make_a_valid_pod(version: str) -> None:
    [deployment] = _values()["dagster-user-deployments"]["deployments"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": deployment["name"]},
        "spec": {
            "securityContext": deployment["podSecurityContext"],
            "volumes": deployment["volumes"],
            "containers": [
                {
                    "name": "code-server",
                    "image": f"{deployment['image']['repository']}:{deployment['image']['tag']}",
                    "env": deployment["env"],
                    "envFrom": [{"secretRef": s} for s in deployment["envSecrets"]],
                    "volumeMounts": deployment["volumeMounts"],
                    "securityContext": deployment["securityContext"],
                    "resources": deployment["resources"],
                }
            ],
        },
    }
    kubernetes_validate.validate(pod, version, strict=True)
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["HAIER_BUDGET_URL"].startswith("postgresql://")
    assert deployment["volumeMounts"][0]["mountPath"] == "/data"  # the image's HAIER_DATA_DIR
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
