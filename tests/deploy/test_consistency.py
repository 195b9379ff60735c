"""The Kubernetes deployment and Docker Compose agree: images and build targets, environment
variable names and defaults, ports, topic settings, alert rules, dashboards and the other
monitoring files (the same files, not copies)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OVERLAYS, ROOT

COMPOSE = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# compose service -> (Kubernetes kind, name, container). The rest is listed below with a reason.
WORKLOADS = {
    "kafka-broker-1": ("StatefulSet", "kafka", "kafka"),
    "kafka-broker-2": ("StatefulSet", "kafka", "kafka"),
    "kafka-broker-3": ("StatefulSet", "kafka", "kafka"),
    "kafka-topics": ("Job", "kafka-topics", "kafka-topics"),
    "schema-registry": ("Deployment", "schema-registry", "schema-registry"),
    "mosquitto": ("StatefulSet", "mosquitto", "mosquitto"),
    "kafka-producer": ("Deployment", "kafka-producer", "kafka-producer"),
    "ruuvitag-adapter": ("StatefulSet", "ruuvitag-adapter", "ruuvitag-adapter"),
    "kafka-consumer": ("Deployment", "kafka-consumer", "kafka-consumer"),
    "timescaledb": ("StatefulSet", "timescaledb", "timescaledb"),
    "timescaledb-migrate": ("Job", "timescaledb-migrate", "timescaledb-migrate"),
    "timescaledb-sink": ("Deployment", "timescaledb-sink", "timescaledb-sink"),
    "timescaledb-maintenance": ("Deployment", "timescaledb-maintenance", "timescaledb-maintenance"),
    "lake-archiver": ("StatefulSet", "lake-archiver", "lake-archiver"),
    "prometheus": ("StatefulSet", "prometheus", "prometheus"),
    "alertmanager": ("StatefulSet", "alertmanager", "alertmanager"),
    "grafana": ("StatefulSet", "grafana", "grafana"),
    "mailpit": ("Deployment", "mailpit", "mailpit"),
    "postgres-exporter": ("Deployment", "postgres-exporter", "postgres-exporter"),
    "mosquitto-exporter": ("StatefulSet", "mosquitto", "mosquitto-exporter"),
    "kafka-lag-exporter": ("Deployment", "kafka-lag-exporter", "kafka-lag-exporter"),
}
NOT_ON_KUBERNETES = {
    "kafka-ui": "a development UI; `kubectl exec kafka-0 -- kafka-topics ...` and Grafana cover it",
    "node-exporter": "needs hostPID and the host filesystem (not Pod Security restricted)",
    "cadvisor": "privileged; the kubelet embeds cAdvisor",
    "mqtt-auth-init": "the same script runs as the mosquitto StatefulSet's init container",
    "cert-init": "its script makes the Secret iot-pipeline-tls (tools/make-tls-secret.sh)",
    "kafka-init": "a Job of the same name running the same script (checked below)",
}
# What compose secures and Kubernetes does not yet (README "Security" says so): the Kafka clients'
# SASL_SSL principals and TLS to PostgreSQL need broker and database certificates and a SCRAM/ACL
# job on the cluster, which the manifests do not have yet.
COMPOSE_ONLY_SECURITY = {
    "POSTGRES_SSLMODE",
    "POSTGRES_SSLROOTCERT",
    "MQTT_TLS_ENABLED",
    "MQTT_BROKER_PORT",  # compose's services use the TLS listener (8883)
    "MQTT_CA_FILE",
    "MQTT_EXPORTER_PASSWORD",
    "POSTGRES_SINK_PASSWORD",
    "POSTGRES_READONLY_PASSWORD",
    "POSTGRES_MONITORING_PASSWORD",
}
COMPOSE_ONLY_SECURITY_PREFIXES = (
    # JAAS settings embed the password: compose interpolates it, Kubernetes references the
    # Secret ($(VAR)); the external listener is compose's only (host clients).
    "KAFKA_LISTENER_NAME_",
)
# Compose's Mosquitto TLS listener (Kubernetes' broker has none yet).
COMPOSE_ONLY_PORTS = {8883}


# Kubernetes' Mosquitto exporter is a sidecar reading $SYS on the pod-local listener, no user.
COMPOSE_ONLY_BY_SERVICE = {"mosquitto-exporter": {"MQTT_PASSWORD"}}


def compose_only(name: str, service: str = "") -> bool:
    return (
        name in COMPOSE_ONLY_SECURITY
        or name.startswith(COMPOSE_ONLY_SECURITY_PREFIXES)
        or name in COMPOSE_ONLY_BY_SERVICE.get(service, set())
    )


# Variables whose value is the deployment's wiring and legitimately differs (addresses, identity).
WIRING = {
    "KAFKA_BOOTSTRAP_SERVERS",  # the three brokers' pod DNS names
    "KAFKA_NODE_ID",  # from the pod index
    "KAFKA_LISTENERS",  # no host listener (PLAINTEXT_HOST) in a cluster
    "KAFKA_ADVERTISED_LISTENERS",
    "KAFKA_CONTROLLER_QUORUM_VOTERS",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
    "SCHEMA_REGISTRY_HOST_NAME",  # the pod IP, so that replicas can forward to the leader
    "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS",
    "ADAPTER_MQTT_TOPICS",  # the same filters, as an MQTT shared subscription
    "ADAPTER_MQTT_CLIENT_ID",  # the pod name: one persistent session per replica
    "DATA_SOURCE_URI",  # same database and options; checked below
    "KAFKA_SSL_KEYSTORE_LOCATION",  # compose: one certificate per broker; Kubernetes: one shared
    "SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG",  # embeds the password (Secret reference)
}
# Kubernetes reads these secrets from files, compose from variables (same Secret values).
AS_FILES = {
    "POSTGRES_PASSWORD": "POSTGRES_PASSWORD_FILE",
    "DATA_SOURCE_PASS": "DATA_SOURCE_PASS_FILE",
}
# Only on Kubernetes: MQTT authentication (compose's broker is anonymous), pod metadata.
KUBERNETES_ONLY_ENV = {"MQTT_USERNAME", "MQTT_PASSWORD", "POD_NAME", "POD_NAMESPACE", "PGDATA"}
KUBERNETES_ONLY_ENV |= {"GF_PATHS_DATA"}
# The registry's password, referenced from its JAAS setting as $(KAFKA_REGISTRY_PASSWORD).
KUBERNETES_ONLY_ENV |= {
    "KAFKA_REGISTRY_PASSWORD"
}  # the image's default, stated for the mounted volume
# Ports compose publishes only for clients on the host (PLAINTEXT_HOST listeners).
HOST_ONLY_PORTS = {29092, 29093, 29094}


def workload(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(objects: list[dict[str, Any]], service: str) -> dict[str, Any]:
    kind, name, cname = WORKLOADS[service]
    pod = workload(objects, kind, name)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == cname)


def compose_default(value: Any) -> str | None:
    """The value compose passes when docker/.env sets nothing: ${X:-default} -> default."""
    if value is None:
        return None
    text = str(value)
    match = re.fullmatch(r"\$\{\w+(?::-([^}]*))?(?::\?[^}]*)?\}", text)
    if match:
        return match.group(1)
    return text


def settings_env_names() -> set[str]:
    text = (ROOT / "deploy/kubernetes/base/generated/settings.env").read_text()
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def configmap(objects: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """Data of a generated ConfigMap (kustomize appends a content hash to its name)."""
    maps = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix + "-")
    ]
    maps = [m for m in maps if re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", m["metadata"]["name"])]
    assert len(maps) == 1, f"one ConfigMap {prefix}-<hash> expected, found {len(maps)}"
    return maps[0].get("data", {})


def test_every_compose_service_is_deployed_or_excluded_with_a_reason():
    assert set(SERVICES) == set(WORKLOADS) | set(NOT_ON_KUBERNETES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_and_build_targets_match(overlay, rendered):
    for service, spec in SERVICES.items():
        if service in NOT_ON_KUBERNETES:
            continue
        compose_image = re.sub(r"\$\{IOT_PIPELINE_IMAGE_TAG:-(\w+)\}", r"\1", spec["image"])
        assert container(rendered[overlay], service)["image"] == compose_image, service
        if "build" in spec:
            # compose builds iot-pipeline/<target>; the manifests name the same target.
            assert compose_image.split("/", 1)[1].split(":")[0] == spec["build"]["target"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_names_and_defaults_match(overlay, rendered):
    settings = settings_env_names()
    for service, spec in SERVICES.items():
        if service in NOT_ON_KUBERNETES:
            continue
        env = spec.get("environment") or {}
        c = container(rendered[overlay], service)
        k8s_env = {e["name"]: e for e in c.get("env", [])}
        has_settings = any(
            ref.get("configMapRef", {}).get("name", "").startswith("iot-pipeline-settings")
            for ref in c.get("envFrom", [])
        )
        for name, value in env.items():
            if value is None:  # a pipeline setting, passed when docker/.env sets it
                assert has_settings and name in settings, f"{service}: {name} not in settings"
                continue
            if compose_only(name, service):
                continue
            k8s_name = name if name in k8s_env else AS_FILES.get(name)
            assert k8s_name in k8s_env, f"{service}: {name} missing on Kubernetes"
            if name in WIRING or k8s_name != name or "valueFrom" in k8s_env[k8s_name]:
                continue
            assert k8s_env[k8s_name]["value"] == compose_default(value), f"{service}: {name}"
        extra = set(k8s_env) - set(env) - set(AS_FILES.values()) - KUBERNETES_ONLY_ENV
        extra -= WIRING & settings
        assert not extra, f"{service}: variables only on Kubernetes: {sorted(extra)}"


def test_the_settings_configmap_lists_every_compose_setting():
    assert settings_env_names() == set(COMPOSE["x-settings"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_match(overlay, rendered):
    for service, spec in SERVICES.items():
        if service in NOT_ON_KUBERNETES:
            continue
        container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in spec.get("ports", [])}
        k8s_ports = {
            p["containerPort"] for p in container(rendered[overlay], service).get("ports", [])
        }
        assert container_ports - HOST_ONLY_PORTS - COMPOSE_ONLY_PORTS <= k8s_ports, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_exporter_reads_the_same_database(overlay, rendered):
    uri = compose_default(SERVICES["postgres-exporter"]["environment"]["DATA_SOURCE_URI"])
    compose_uri = re.sub(r"\$\{POSTGRES_DB:-(\w+)\}", r"\1", str(uri))
    env = {
        e["name"]: e.get("value") for e in container(rendered[overlay], "postgres-exporter")["env"]
    }
    # The same database; the TLS options are compose's only (COMPOSE_ONLY_SECURITY).
    assert env["DATA_SOURCE_URI"].split("?")[0] == compose_uri.split("?")[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topic_settings_match(overlay, rendered):
    objects = rendered[overlay]
    # The brokers' replication settings are compose's (checked with the environment above);
    # the topics are created by the same module with the same settings ConfigMap.
    job = container(objects, "kafka-topics")
    assert job["command"] == ["python", "-m", "iot_pipeline.kafka.topics"]
    assert "python -m iot_pipeline.kafka.topics" in " ".join(SERVICES["kafka-topics"]["command"])
    example = (ROOT / "docker/.env.example").read_text()
    settings = (ROOT / "deploy/kubernetes/base/generated/settings.env").read_text()
    for name in ("KAFKA_PARTITIONS", "KAFKA_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS",
                 "KAFKA_RETENTION_MS", "KAFKA_TOPIC_NAME", "KAFKA_DLQ_TOPIC_NAME",
                 "KAFKA_ALERTS_TOPIC_NAME"):  # fmt: skip
        line = re.search(rf"^# {name}=.*$", example, re.MULTILINE)
        assert line and line.group(0) in settings.splitlines(), name


def files(directory: str, pattern: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / directory).glob(pattern))}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alert_rules_dashboards_and_monitoring_files_are_the_compose_files(overlay, rendered):
    objects = rendered[overlay]
    # compose mounts monitoring/prometheus/rules (every file) and monitoring/grafana/dashboards.
    assert configmap(objects, "prometheus-rules") == files("monitoring/prometheus/rules", "*.yml")
    assert configmap(objects, "grafana-dashboards") == files(
        "monitoring/grafana/dashboards", "*.json"
    )
    assert configmap(objects, "grafana-provisioning-datasources") == files(
        "monitoring/grafana/provisioning/datasources", "*.yml"
    )
    assert configmap(objects, "grafana-provisioning-dashboards") == files(
        "monitoring/grafana/provisioning/dashboards", "*.yml"
    )
    compose_alertmanager = ROOT / "monitoring/alertmanager/alertmanager.compose.yml"
    assert configmap(objects, "alertmanager-config") == {
        "alertmanager.yml": compose_alertmanager.read_text()
    }
    assert configmap(objects, "kafka-jmx-exporter") == {
        "kafka.yml": (ROOT / "monitoring/jmx/kafka.yml").read_text()
    }
    assert configmap(objects, "postgres-exporter-queries") == {
        "queries.yml": (ROOT / "monitoring/postgres/queries.yml").read_text()
    }


def test_prometheus_scrapes_the_compose_jobs(generate_tool):
    compose = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.compose.yml").read_text())
    kube = yaml.safe_load((ROOT / "deploy/kubernetes/base/generated/prometheus.yml").read_text())
    compose_jobs = {j["job_name"] for j in compose["scrape_configs"]}
    kube_jobs = {j["job_name"] for j in kube["scrape_configs"]}
    assert kube_jobs == compose_jobs - set(generate_tool.NOT_ON_KUBERNETES)
    assert kube["rule_files"] == compose["rule_files"]
    assert kube["global"]["scrape_interval"] == compose["global"]["scrape_interval"]


def test_the_rule_and_dashboard_files_are_referenced_not_copied():
    """No copy of a monitoring file lives under deploy/ (the kustomization references them)."""
    sources = [
        *(ROOT / "monitoring/prometheus/rules").glob("*.yml"),
        *(ROOT / "monitoring/grafana/dashboards").glob("*.json"),
    ]
    texts = {p.read_text() for p in sources}
    candidates = [p for p in (ROOT / "deploy").rglob("*") if p.suffix in {".yml", ".yaml", ".json"}]
    copies = [p for p in candidates if p.is_file() and p.read_text() in texts]
    assert not copies, copies


def test_mosquitto_configuration_is_compose_s_plus_authentication(generate_tool):
    base = (ROOT / "mqtt/config/mosquitto.conf").read_text()
    kube = (ROOT / "deploy/kubernetes/base/generated/mosquitto.conf").read_text()
    settings = [
        line for line in base.splitlines()
        if line and not line.startswith("#") and line not in generate_tool.MOSQUITTO_REPLACED
    ]  # fmt: skip
    kube_lines = kube.splitlines()
    assert all(line in kube_lines for line in settings)
    assert "allow_anonymous true" not in kube_lines[: kube_lines.index("listener 1884 127.0.0.1")]
    assert "password_file /mosquitto/auth/passwd" in kube_lines


def test_the_generated_files_are_current(generate_tool):
    assert generate_tool.main(["--check"]) == 0


def test_a_new_scrape_job_must_be_placed(generate_tool):
    spec = yaml.safe_load((ROOT / "monitoring/targets.yml").read_text())
    spec["jobs"].append({"job": "something-new", "targets": [{"compose": "x:1"}]})
    with pytest.raises(generate_tool.GenerateError, match="something-new"):
        generate_tool.render_prometheus(spec)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_sasl_ssl_only_and_kafka_init_runs_compose_s_script(overlay, rendered):
    objects = rendered[overlay]
    broker = {e["name"]: e.get("value") for e in container(objects, "kafka-broker-1")["env"]}
    protocols = dict(
        p.split(":") for p in broker["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(protocols.values()) == {"SASL_SSL"}
    for name in ("KAFKA_AUTHORIZER_CLASS_NAME", "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND",
                 "KAFKA_SUPER_USERS", "KAFKA_SSL_KEYSTORE_TYPE"):  # fmt: skip
        assert broker[name] == str(SERVICES["kafka-broker-1"]["environment"][name]), name
    job = workload(objects, "Job", "kafka-init")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["bash", "/opt/kafka-init/init-security.sh"]
    assert configmap(objects, "kafka-init-script") == {
        "init-security.sh": (ROOT / "docker/kafka/init-security.sh").read_text()
    }
    secrets = {e["name"] for e in job["env"] if "valueFrom" in e}
    script = (ROOT / "docker/kafka/init-security.sh").read_text()
    assert secrets == set(re.findall(r"\buser \S+ (KAFKA_\w+_PASSWORD)", script)) | {
        "KAFKA_BROKER_PASSWORD"
    }
