"""The NetworkPolicies allow every flow the pipeline uses, and deny flows it does not use.
Enforcement needs a cluster's CNI, which these machines do not have, so this test evaluates the
policies' semantics (same namespace; podSelector, ports) over the rendered objects. The flows are
derived from the manifests themselves: every `service:port` address in a container's environment
or arguments (and HOST/PORT variable pairs), Prometheus' scrape jobs, and the Grafana and
Alertmanager configuration files."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OVERLAYS, ROOT

ADDRESS = re.compile(r"(?<![\w.-])([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):(\d{2,5})\b")
Labels = dict[str, str]


def matches(selector: dict[str, Any], labels: Labels) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def pods(objects: list[dict[str, Any]]) -> dict[str, tuple[Labels, dict[str, Any]]]:
    """workload name -> (pod labels, pod spec)."""
    found = {}
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec and obj["kind"] != "HorizontalPodAutoscaler":
            found[obj["metadata"]["name"]] = (
                spec["template"]["metadata"]["labels"],
                spec["template"]["spec"],
            )
    return found


def container_port(pod: dict[str, Any], port: Any) -> int:
    if isinstance(port, int):
        return port
    for container in pod["containers"]:
        for p in container.get("ports", []):
            if p.get("name") == port:
                return int(p["containerPort"])
    raise KeyError(port)


def destinations(objects, all_pods, host: str, port: int) -> list[tuple[str, int]]:
    """(workload, container port) a `host:port` reaches: a Service's name, or a StatefulSet pod's
    name under its headless Service."""
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    labels = host.split(".")
    # <service>[.<namespace>...] or <pod>.<headless service>[...]
    name = labels[1] if len(labels) > 1 and labels[1] in services else labels[0]
    if name in services:
        service = services[name]
        found = []
        for p in service["spec"]["ports"]:
            if p["port"] == port:
                for workload, (labels, pod) in all_pods.items():
                    if matches({"matchLabels": service["spec"]["selector"]}, labels):
                        found.append((workload, container_port(pod, p.get("targetPort", port))))
        return found
    return []


# Addresses a workload is configured with but never connects to, and why (denied on purpose).
CONFIGURED_NOT_USED = {
    ("timescaledb-migrate", "kafka", 9092): "the migrations only talk to PostgreSQL; the Kafka "
    "and registry variables are compose's shared pipeline environment, kept for consistency",
    ("timescaledb-migrate", "schema-registry", 8081): "as above",
}
# libpq's default port, for PGHOST without PGPORT.
DEFAULT_PORTS = {"PG": 5432}


def addresses(pod: dict[str, Any]) -> set[tuple[str, int]]:
    """Every host:port a pod's containers are configured with."""
    found: set[tuple[str, int]] = set()
    for container in pod.get("initContainers", []) + pod["containers"]:
        env = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
        texts = list(env.values()) + [
            str(a) for a in container.get("command", []) + container.get("args", [])
        ]
        for text in texts:
            found |= {(host, int(port)) for host, port in ADDRESS.findall(text)}
        for name, host in env.items():  # MQTT_BROKER_HOST + MQTT_BROKER_PORT, PGHOST (+ PGPORT)
            if name.endswith("HOST") and re.fullmatch(r"[a-z][a-z0-9-]*", host):
                prefix = name[: -len("HOST")]
                port = env.get(prefix + "PORT") or DEFAULT_PORTS.get(prefix)
                if port:
                    found.add((host, int(port)))
    return found


def configured_flows(objects: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """Flows from the files the pods read: Grafana's datasources, Alertmanager's SMTP relay."""
    all_pods = pods(objects)
    flows: set[tuple[str, str, int]] = set()
    datasources = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/datasources/datasources.yml").read_text()
    )
    for source_cfg in datasources["datasources"]:
        host, port = re.sub(r"^https?://", "", source_cfg["url"]).split(":")
        flows |= {("grafana", d, p) for d, p in destinations(objects, all_pods, host, int(port))}
    alertmanager = yaml.safe_load(
        (ROOT / "monitoring/alertmanager/alertmanager.compose.yml").read_text()
    )
    host, port = alertmanager["global"]["smtp_smarthost"].split(":")
    flows |= {("alertmanager", d, p) for d, p in destinations(objects, all_pods, host, int(port))}
    # Prometheus scrapes every discovered (app, port name) target.
    scrape = yaml.safe_load((ROOT / "deploy/kubernetes/base/generated/prometheus.yml").read_text())
    for job in scrape["scrape_configs"]:
        app, port_name = job["relabel_configs"][0]["regex"].split(";")
        for workload, (labels, pod) in all_pods.items():
            if labels.get("app.kubernetes.io/name") == app:
                flows.add(("prometheus", workload, container_port(pod, port_name)))
    return flows


def required_flows(objects: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """(source workload, destination workload, container port) the pipeline uses."""
    all_pods = pods(objects)
    flows = configured_flows(objects)
    for source, (_, pod) in all_pods.items():
        for host, port in addresses(pod):
            # A workload may reach its own other pods (Kafka brokers and controllers).
            flows |= {(source, d, p) for d, p in destinations(objects, all_pods, host, port)}
    return flows


def allowed(objects, direction: str, pod_labels: Labels, peer_labels: Labels, port: int) -> bool:
    """Whether the policies selecting a pod allow traffic to (egress) / from (ingress) a peer pod
    of the same namespace on a port. Not selected by any policy means allowed."""
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [
        p for p in objects
        if p["kind"] == "NetworkPolicy" and direction in p["spec"]["policyTypes"]
        and matches(p["spec"]["podSelector"], pod_labels)
    ]  # fmt: skip
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (None, port) for p in ports):
                continue
            peers = rule.get(peers_key)
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer or "namespaceSelector" in peer:
                    continue  # other namespaces / outside the cluster
                if matches(peer.get("podSelector", {}), peer_labels):
                    return True
    return False


def flow_allowed(objects, source: str, dest: str, port: int) -> bool:
    all_pods = pods(objects)
    src_labels, dst_labels = all_pods[source][0], all_pods[dest][0]
    return allowed(objects, "Egress", src_labels, dst_labels, port) and allowed(
        objects, "Ingress", dst_labels, src_labels, port
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pipeline_flow_is_allowed(overlay, rendered):
    objects = rendered[overlay]
    flows = required_flows(objects)
    # The derivation finds the pipeline's main paths (a guard against a silently empty set).
    for expected in [
        ("ruuvitag-adapter", "kafka", 9092),
        ("ruuvitag-adapter", "mosquitto", 1883),
        ("timescaledb-sink", "timescaledb", 5432),
        ("timescaledb-sink", "schema-registry", 8081),
        ("kafka", "kafka", 9093),
        ("prometheus", "kafka", 7071),
        ("prometheus", "mosquitto", 9234),
        ("grafana", "prometheus", 9090),
        ("grafana", "timescaledb", 5432),
        ("alertmanager", "mailpit", 1025),
        ("timescaledb-backup", "timescaledb", 5432),
        ("postgres-exporter", "timescaledb", 5432),
    ]:
        assert expected in flows, expected
    blocked = [f for f in sorted(flows - set(CONFIGURED_NOT_USED)) if not flow_allowed(objects, *f)]
    assert not blocked, f"flows the NetworkPolicies deny: {blocked}"


@pytest.mark.parametrize(
    ("source", "dest", "port"),
    [
        ("kafka-producer", "timescaledb", 5432),  # the simulator never talks to the database
        ("kafka-consumer", "mosquitto", 1883),
        ("grafana", "kafka", 9092),
        ("timescaledb-sink", "kafka", 9093),  # the KRaft controller port is brokers-only
        ("mailpit", "timescaledb", 5432),
    ],
)
def test_flows_the_pipeline_does_not_use_are_denied(source, dest, port, rendered):
    assert not flow_allowed(rendered["gke"], source, dest, port)


def test_every_workload_is_covered_by_the_default_deny(rendered):
    objects = rendered["gke"]
    deny = next(
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "default-deny"
    )
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
