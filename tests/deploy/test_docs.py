"""The deploy guide (docs/deploy-kubernetes.md): every command block says whether it is run by the
tests here or needs a real cluster/project, and what its commands name exists: workloads and
Services (and their ports) in the rendered manifests, Terraform outputs, make targets, image
build targets. Its sizing figures are sizing.py's output."""

from __future__ import annotations

import re
import shlex
from typing import Any

from tests.deploy.conftest import ROOT, load_tool

GUIDE = ROOT / "docs/deploy-kubernetes.md"
MARKERS = ("# tested here", "# needs a cluster", "# needs a GCP project")
# Objects the guide itself creates.
CREATED_BY_GUIDE = {("job", "backup-now")}
KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "svc": "Service",
    "job": "Job",
    "cronjob": "CronJob",
    "hpa": "HorizontalPodAutoscaler",
}


def blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)


def commands() -> list[list[str]]:
    found = []
    for block in blocks():
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" # ", 1)[0].strip()
            if line and not line.startswith("#"):
                found.append(shlex.split(line, comments=False))
    return found


def test_every_command_block_is_marked():
    assert blocks()
    for block in blocks():
        assert block.startswith(MARKERS), f"unmarked block:\n{block}"


def names(objects: list[dict[str, Any]], kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in objects if o["kind"] == kind}


def test_kubectl_commands_name_existing_objects_and_ports(rendered):
    objects = rendered["gke"]
    checked = 0
    for words in commands():
        if not words or words[0] != "kubectl":
            continue
        for i, word in enumerate(words):
            refs = re.findall(r"^(deployment|statefulset|svc|job|cronjob|hpa)/([a-z0-9-]+)$", word)
            if i > 0 and words[i - 1] in KINDS and re.fullmatch(r"[a-z0-9-]+", word):
                refs = [(words[i - 1], word)]
            for kind, name in refs:
                if (kind, name) in CREATED_BY_GUIDE:
                    continue
                assert name in names(objects, KINDS[kind]), f"{kind}/{name} in: {' '.join(words)}"
                checked += 1
                if kind == "svc" and "port-forward" in words:
                    remote = int(words[i + 1].split(":")[1])
                    service = next(
                        o
                        for o in objects
                        if o["kind"] == "Service" and o["metadata"]["name"] == name
                    )
                    assert remote in {p["port"] for p in service["spec"]["ports"]}, word
    assert checked >= 15


def test_terraform_outputs_and_make_targets_exist():
    text = GUIDE.read_text()
    outputs = set(
        re.findall(
            r'^output "([a-z_]+)"', (ROOT / "deploy/terraform/gke/outputs.tf").read_text(), re.M
        )
    )
    for name in re.findall(r"output -raw ([a-z_]+)", text):
        assert name in outputs, name
    targets = set(re.findall(r"^([a-z0-9-]+):", (ROOT / "mk/k8s.mk").read_text(), re.M))
    for target in re.findall(r"\bmake (?:-s )?(k8s-[a-z-]+)", text):
        assert target in targets, target


def test_the_images_built_are_the_ones_the_manifests_run(rendered):
    loop = re.search(r"for target in ([a-z -]+); do", GUIDE.read_text())
    assert loop
    built = set(loop.group(1).split())
    used = set()
    for obj in rendered["gke"]:
        for image in re.findall(r"'image': '(iot-pipeline/[^']+)'", str(obj)):
            used.add(image.split("/")[1].split(":")[0])
    assert built == used
    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    for target in built:
        assert re.search(rf"^FROM \S+ AS {target}$", dockerfile, re.M), target


def test_the_sizing_figures_are_sizing_py_s_output(rendered):
    sizing = load_tool("sizing")
    expected = sizing.report(sizing.sizing(rendered["gke"]))
    assert f"```\n{expected}```" in GUIDE.read_text()


def test_readme_points_to_the_guide():
    readme = (ROOT / "README.md").read_text()
    assert "docs/deploy-kubernetes.md" in readme
    assert "## Kubernetes" in readme
