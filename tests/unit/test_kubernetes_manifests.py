"""deploy/kubernetes/base checked offline: core resources against Kubernetes' own schemas
(kubernetes-validate, strict), KEDA's resources for what they reference, and every
container's environment, probes and spool against what the code reads and serves."""

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from contracts import SPOOLED, Stage, Topology
from infra.runtime import LIVENESS_PATH, READINESS_PATH
from infra.settings import DatabaseSettings, Settings
from services.admin import health
from services.admin.settings import AdminSettings
from services.discovery.settings import DiscoverySettings
from services.downloader.settings import DownloaderSettings
from services.notifier.settings import NotifierSettings
from services.processor.settings import ProcessorSettings
from services.uploader.settings import UploaderSettings

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "base"
# The oldest Kubernetes release these manifests are meant for, and the newest one known.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
KEDA = "keda.sh/v1alpha1"
# The fields of KEDA 2.18's ScaledObject, its triggers and its RabbitMQ scaler (keda.sh docs:
# reference/scaledobject-spec, scalers/rabbitmq-queue), so that a misspelt one fails here.
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}
TRIGGER_FIELDS = {"type", "name", "metadata", "authenticationRef", "metricType",
                  "useCachedMetrics"}
RABBITMQ_FIELDS = {
    "host", "protocol", "mode", "value", "activationValue", "queueName", "vhostName",
    "hostFromEnv", "usernameFromEnv", "passwordFromEnv", "unsafeSsl", "timeout", "useRegex",
    "pageSize", "operation", "excludeUnacknowledged",
}
# What a service may take to stop: uvicorn's timeout_graceful_shutdown (services/__main__.py)
# for open requests, then the broker's graceful_timeout (infra/broker.py) for messages.
DRAIN_SECONDS = 30 + 30

# What `python -m services <command>` reads, by command.
SETTINGS: dict[str, type[BaseSettings]] = {
    "discovery": DiscoverySettings,
    "downloader": DownloaderSettings,
    "uploader": UploaderSettings,
    "notifier": NotifierSettings,
    "processor": ProcessorSettings,
    "admin": AdminSettings,
    "migrate": DatabaseSettings,
}
PROBES = {"liveness": LIVENESS_PATH, "readiness": READINESS_PATH}
ADMIN_PROBES = {"liveness": next(iter(health.healthz.paths)),
                "readiness": next(iter(health.readyz.paths))}
# Settings that the manifests set before the code has them: issue 14's spool identity is
# another branch's. Once a name is a setting, this test says to drop it from here.
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


@functools.cache
def resources() -> tuple[dict[str, Any], ...]:
    return tuple(doc for name in kustomization()["resources"]
                 for doc in yaml.safe_load_all((BASE / name).read_text()) if doc)


def named(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def pod_specs(kinds: tuple[str, ...] = ("Deployment", "Job")) -> Iterator[tuple[str, Any]]:
    for kind in kinds:
        for name, doc in named(kind).items():
            yield name, doc["spec"]["template"]["spec"]


def containers() -> Iterator[dict[str, Any]]:
    for _, pod in pod_specs():
        yield from pod["containers"]


def command(container: dict[str, Any]) -> str:
    assert container["command"][:3] == ["python", "-m", "services"], container["name"]
    return container["command"][3]


def environment(container: dict[str, Any]) -> dict[str, str | None]:
    """The container's variables as Kubernetes sets them: env over envFrom, in order;
    None for a value that comes from elsewhere (valueFrom)."""
    found: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        kind, ref = next((k, v) for k, v in source.items() if k.endswith("Ref"))
        doc = named({"configMapRef": "ConfigMap", "secretRef": "Secret"}[kind])[ref["name"]]
        found.update(doc.get("data", {}) | doc.get("stringData", {}))
    for variable in container.get("env", []):
        found[variable["name"]] = variable.get("value")
    return found


def test_the_kustomization_lists_every_file_of_the_base() -> None:
    listed = set(kustomization()["resources"]) | set(kustomization()["configurations"])
    assert {path.name for path in BASE.iterdir()} - {"kustomization.yaml"} == listed


@pytest.mark.parametrize("version", VERSIONS)
def test_core_resources_are_valid_kubernetes(version: str) -> None:
    for doc in resources():
        if doc["apiVersion"] != KEDA:
            kubernetes_validate.validate(doc, version, strict=True)


def test_keda_scales_deployments_on_real_queues() -> None:
    config = named("ConfigMap")["intake-config"]["data"]
    topology = Topology(config["INTAKE_AMQP_PREFIX"])
    assert topology == Topology()  # autoscaling.yaml's queue names carry the default prefix
    queues = {topology.queue(stage) for stage in Stage if stage not in SPOOLED}  # shared ones
    scaled = named("ScaledObject")
    assert scaled
    for name, doc in scaled.items():
        assert doc["apiVersion"] == KEDA
        spec = doc["spec"]
        assert set(spec) <= SCALED_OBJECT_FIELDS, name
        assert spec["scaleTargetRef"]["name"] in named("Deployment"), name
        assert "replicas" not in named("Deployment")[spec["scaleTargetRef"]["name"]]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        if hpa := spec.get("advanced", {}).get("horizontalPodAutoscalerConfig"):
            kubernetes_validate.validate(_hpa_with(hpa["behavior"]), VERSIONS[-1], strict=True)
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq"
            meta = trigger["metadata"]
            assert set(trigger) <= TRIGGER_FIELDS and set(meta) <= RABBITMQ_FIELDS, name
            assert meta["queueName"] in queues, name
            assert meta["mode"] == "QueueLength" and meta["protocol"] == "amqp"
            assert float(meta["value"]) > 0
            assert trigger["authenticationRef"]["name"] in named("TriggerAuthentication")


def _hpa_with(behavior: dict[str, Any]) -> dict[str, Any]:
    """KEDA hands this behavior to the HorizontalPodAutoscaler it makes: check it as one."""
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "check"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                 "maxReplicas": 2, "behavior": behavior},
    }


def test_keda_reads_the_broker_url_from_the_secret() -> None:
    for doc in named("TriggerAuthentication").values():
        assert doc["apiVersion"] == KEDA
        for ref in doc["spec"]["secretTargetRef"]:
            assert ref["parameter"] == "host"
            assert ref["key"] == "INTAKE_AMQP_URL"
            assert ref["key"] in named("Secret")[ref["name"]]["stringData"]


def test_every_variable_a_container_gets_is_a_setting_of_its_service() -> None:
    for container in containers():
        fields = SETTINGS[command(container)].model_fields
        names = set(environment(container))
        assert names - {f"INTAKE_{field.upper()}" for field in fields} == set(), container["name"]


def test_probes_ask_the_services_paths_on_their_ports() -> None:
    for name, pod in pod_specs(("Deployment",)):
        numbers = []
        for container in pod["containers"]:
            paths = ADMIN_PROBES if command(container) == "admin" else PROBES
            port, = container["ports"]
            assert port["containerPort"] == int(environment(container).get("INTAKE_HTTP_PORT")
                                                or Settings.model_fields["http_port"].default)
            numbers.append(port["containerPort"])
            for probe, path in [("startupProbe", paths["liveness"]),
                                ("livenessProbe", paths["liveness"]),
                                ("readinessProbe", paths["readiness"])]:
                assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}
        assert len(set(numbers)) == len(numbers), f"{name}: containers share a port"


def test_downloader_and_uploader_share_a_spool_of_their_pod() -> None:
    for _, pod in pod_specs():
        by_command = {command(container): container for container in pod["containers"]}
        spooling = {"downloader", "uploader"} & set(by_command)
        if not spooling:  # the admin too: its uploads go to S3
            allowed = {"/tmp"} | {str(Path(environment(c)["INTAKE_RESULTS_LOG"]).parent)
                                  for c in pod["containers"] if command(c) == "processor"}
            assert {mount["mountPath"] for container in pod["containers"]
                    for mount in container.get("volumeMounts", [])} <= allowed
            continue
        assert spooling == {"downloader", "uploader"}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounted = set()
        for name in spooling:
            container = by_command[name]
            env = {variable["name"]: variable for variable in container["env"]}
            assert env["INTAKE_SPOOL_ID"]["valueFrom"] == {
                "fieldRef": {"fieldPath": "metadata.name"}}
            spool = next(mount for mount in container["volumeMounts"]
                         if mount["mountPath"] == env["INTAKE_SPOOL_DIR"]["value"])
            assert volumes[spool["name"]]["emptyDir"]["sizeLimit"]
            mounted.add(spool["name"])
        assert len(mounted) == 1


def test_every_pod_is_locked_down_and_bounded() -> None:
    for name, pod in pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        # Service links would put variables such as INTAKE_ADMIN_PORT into the settings.
        assert pod["enableServiceLinks"] is False, name
        if name in named("Deployment"):
            assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS, name
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, container["name"]
            memory = container["resources"]
            assert memory["requests"]["memory"] and memory["limits"]["memory"], container["name"]
