"""Render an overlay of deploy/kubernetes to one multi-document YAML stream.

    python deploy/kubernetes/tools/render.py [gke|local|prometheus-operator] [--registry R][--tag T]

(prometheus-operator: the optional addon of PodMonitors and PrometheusRules, applied next to an
overlay on clusters that run the Prometheus Operator.)

Runs kustomize (installed by install-tools.sh into a cache outside the repository) with
--load-restrictor LoadRestrictionsNone: the base takes the monitoring, broker and exporter files
from their single places in the repository. The pipeline's own images keep compose's names
(iot-pipeline/<target>:local) unless --registry/--tag (IMAGE_REGISTRY/IMAGE_TAG in make) point
them at the registry the images were pushed to, e.g.
europe-north1-docker.pkg.dev/<project>/iot-pipeline and a release tag.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("gke", "local")
ADDONS = ("prometheus-operator",)
OWN_IMAGE_PREFIX = "iot-pipeline/"
INSTALL_TOOLS = KUBERNETES / "tools" / "install-tools.sh"


def tool_path(name: str) -> str:
    """Path of a tool installed (built if missing) by install-tools.sh."""
    result = subprocess.run(
        ["bash", str(INSTALL_TOOLS), name], check=True, capture_output=True, text=True
    )
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == name:
            return value
    raise RuntimeError(f"install-tools.sh printed no path for {name}: {result.stdout!r}")


def kustomize_build(overlay: str, kustomize: str | None = None) -> str:
    if overlay not in OVERLAYS + ADDONS:
        raise ValueError(f"unknown overlay {overlay!r}; one of {OVERLAYS + ADDONS}")
    directory = KUBERNETES / ("overlays" if overlay in OVERLAYS else "addons") / overlay
    binary = kustomize or os.environ.get("KUSTOMIZE") or tool_path("kustomize")
    result = subprocess.run(
        [binary, "build", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout


def own_image(image: str, registry: str | None, tag: str | None) -> str:
    """An image of the pipeline's own (iot-pipeline/<target>:local) moved to registry and tag."""
    if not image.startswith(OWN_IMAGE_PREFIX):
        return image
    name, _, current_tag = image.removeprefix(OWN_IMAGE_PREFIX).partition(":")
    repository = f"{registry.rstrip('/')}/{name}" if registry else OWN_IMAGE_PREFIX + name
    return f"{repository}:{tag or current_tag}"


def retag(objects: list[dict[str, Any]], registry: str | None, tag: str | None) -> None:
    for obj in objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec")
        if obj.get("kind") == "CronJob":
            pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        if not pod:
            continue
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            container["image"] = own_image(container["image"], registry, tag)


def render(overlay: str, registry: str | None = None, tag: str | None = None) -> str:
    text = kustomize_build(overlay)
    if not registry and not tag:
        return text
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    retag(objects, registry, tag)
    return yaml.safe_dump_all(objects, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overlay", nargs="?", default="gke", choices=OVERLAYS + ADDONS)
    parser.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY") or None)
    parser.add_argument("--tag", default=os.environ.get("IMAGE_TAG") or None)
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render(args.overlay, args.registry, args.tag))
    except subprocess.CalledProcessError as error:
        sys.stderr.write(f"{' '.join(error.cmd)} failed:\n{error.stderr}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
