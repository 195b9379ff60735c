"""Every rendered object of every overlay, sent to a real kube-apiserver (v1.34, the minor GKE's
regular channel runs) with server-side dry run and strict field validation: schema errors,
unknown or duplicate fields, invalid references inside an object and admission rejections all fail.
The namespace enforces Pod Security "restricted", whose warnings on workload templates also fail.
"""

from __future__ import annotations

import copy
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.apiserver import ApiServer
from tests.deploy.conftest import OVERLAYS, ROOT

# The first run builds kube-apiserver (minutes on 2 cores); later runs take seconds.
pytestmark = pytest.mark.timeout(3600)

# Apply order: what others refer to comes first (namespace, then identities and configuration,
# then storage and networking, then workloads and what scales them).
KIND_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "StatefulSet",
    "Deployment",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
]
SECRETS_TEMPLATE = ROOT / "deploy" / "kubernetes" / "secrets.env.example"


def ordered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unknown = {o["kind"] for o in objects} - set(KIND_ORDER)
    assert not unknown, f"add {sorted(unknown)} to KIND_ORDER (apply order)"
    return sorted(objects, key=lambda o: KIND_ORDER.index(o["kind"]))


def secret_from_template(namespace: str) -> dict[str, Any]:
    """The Secret the deploy guide creates from secrets.env.example, with random values."""
    keys = [
        line.split("=", 1)[0]
        for line in SECRETS_TEMPLATE.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert "POSTGRES_PASSWORD" in keys and "CLUSTER_ID" in keys
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "iot-pipeline-secrets", "namespace": namespace},
        "type": "Opaque",
        "stringData": {key: secrets.token_urlsafe(16) for key in keys},
    }


def referenced_secret_keys(objects: list[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if ref and ref.get("name") == "iot-pipeline-secrets":
                keys.add(ref["key"])
            secret = node.get("secret")
            if isinstance(secret, dict) and secret.get("secretName") == "iot-pipeline-secrets":
                keys.update(item["key"] for item in secret.get("items", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(objects)
    return keys


@pytest.fixture(scope="module")
def cluster(apiserver: ApiServer, rendered: dict[str, list[dict[str, Any]]]):
    """The API server with the pipeline's namespace created for real (dry-run objects in a
    namespace need it to exist), and its resource map from discovery."""
    namespaces = [o for objs in rendered.values() for o in objs if o["kind"] == "Namespace"]
    resources = apiserver.resources()
    answer = apiserver.create(namespaces[0], resources, dry_run=False)
    assert answer.status in (201, 409), answer.body
    return apiserver, resources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_accepted_by_the_api_server(overlay, cluster, rendered):
    apiserver, resources = cluster
    objects = rendered[overlay]
    namespace = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    rejected, warned, accepted = [], [], 0
    for obj in ordered([*objects, secret_from_template(namespace)]):
        if obj["kind"] == "Namespace":
            continue  # created for real by the fixture; dry-run it again below for the record
        answer = apiserver.create(obj, resources)
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if answer.status != 201:
            rejected.append(f"{name}: HTTP {answer.status} {answer.body.get('message')}")
            continue
        accepted += 1
        if answer.warnings:
            warned.append(f"{name}: {answer.warnings}")
    print(f"{overlay}: {accepted} objects accepted (server-side dry run, strict validation)")
    assert not rejected, "\n".join(rejected)
    assert not warned, "\n".join(warned)
    assert accepted == len(objects)  # every object but the namespace, plus the Secret


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_secret_template_has_every_key_the_manifests_use(overlay, rendered):
    template = set(secret_from_template("x")["stringData"])
    missing = referenced_secret_keys(rendered[overlay]) - template
    assert not missing, f"keys used by {overlay} but not in secrets.env.example: {missing}"


def test_an_unknown_field_is_rejected(cluster, rendered):
    """The dry run can fail: a misspelt field in a container is refused."""
    apiserver, resources = cluster
    kafka = next(o for o in rendered["local"] if o["kind"] == "StatefulSet")
    broken = copy.deepcopy(kafka)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    answer = apiserver.create(broken, resources)
    assert answer.status >= 400
    assert "unknown field" in answer.body.get("message", "")


def test_a_pod_security_violation_is_reported(cluster, rendered):
    """The restricted Pod Security level is checked: an added capability draws a warning."""
    apiserver, resources = cluster
    workload = next(o for o in rendered["local"] if o["kind"] == "Deployment")
    broken = copy.deepcopy(workload)
    security = broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    security["capabilities"] = {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    answer = apiserver.create(broken, resources)
    assert answer.status == 201
    assert any("restricted" in warning for warning in answer.warnings), answer.warnings


def test_make_k8s_render_prints_the_overlay(rendered, tool):
    """`make k8s-render` (render.py) prints what the tests validate."""
    result = subprocess.run(
        [sys.executable, str(Path("deploy/kubernetes/tools/render.py")), "local"],
        cwd=ROOT, check=True, capture_output=True, text=True,
        env={"KUSTOMIZE": tool("kustomize"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert [d for d in yaml.safe_load_all(result.stdout) if d] == rendered["local"]


def wait_established(apiserver: ApiServer, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        conditions = apiserver.request("GET", path).body.get("status", {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.5)
    raise TimeoutError(f"CRD {name} not established")


def test_the_prometheus_operator_addon_is_accepted(cluster, render_tool, tool):
    """The optional PodMonitors and PrometheusRules, validated against the operator's own CRDs
    (from the Go module github.com/prometheus-operator/prometheus-operator, installed first)."""
    apiserver, _ = cluster
    text = render_tool.kustomize_build("prometheus-operator", tool("kustomize"))
    addon = [d for d in yaml.safe_load_all(text) if d]
    crd_dir = Path(tool("prometheus-operator-crds"))
    kinds = {o["kind"] for o in addon if o["apiVersion"].startswith("monitoring.coreos.com/")}
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    resources = apiserver.resources()
    for kind in sorted(kinds):
        crd = yaml.safe_load((crd_dir / f"monitoring.coreos.com_{kind.lower()}s.yaml").read_text())
        answer = apiserver.create(crd, resources, dry_run=False)
        assert answer.status in (201, 409), answer.body.get("message")
        wait_established(apiserver, crd["metadata"]["name"])
    resources = apiserver.resources()
    rejected = []
    for obj in addon:
        answer = apiserver.create(obj, resources)
        if answer.status != 201 or answer.warnings:
            message = answer.body.get("message")
            rejected.append(f"{obj['kind']}/{obj['metadata']['name']}: {answer.status} {message}")
    print(f"prometheus-operator addon: {len(addon) - len(rejected)} objects accepted")
    assert not rejected, "\n".join(rejected)
