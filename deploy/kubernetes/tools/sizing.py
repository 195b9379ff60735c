"""Print what an overlay asks of the cluster: CPU and memory requests and limits of the long-running
workloads (at their configured replicas) and persistent storage per StorageClass.

    python deploy/kubernetes/tools/sizing.py [gke|local]

The deploy guide's sizing and cost section quotes this output (tests/deploy checks that it does).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import yaml

UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}


def cpu(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def mebibytes(value: Any) -> float:
    text = str(value)
    for suffix, factor in UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    raise ValueError(f"unsupported quantity {text!r}")


def sizing(objects: list[dict[str, Any]]) -> dict[str, Any]:
    totals = {"cpu_requests": 0.0, "cpu_limits": 0.0, "memory_requests": 0.0, "memory_limits": 0.0}
    storage: dict[str, float] = {}
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] == "PersistentVolumeClaim":
            cls = spec.get("storageClassName") or "(default)"
            storage[cls] = storage.get(cls, 0) + mebibytes(spec["resources"]["requests"]["storage"])
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        replicas = spec.get("replicas", 1)
        for container in spec["template"]["spec"]["containers"]:
            resources = container["resources"]
            totals["cpu_requests"] += replicas * cpu(resources["requests"]["cpu"])
            totals["cpu_limits"] += replicas * cpu(resources["limits"]["cpu"])
            totals["memory_requests"] += replicas * mebibytes(resources["requests"]["memory"])
            totals["memory_limits"] += replicas * mebibytes(resources["limits"]["memory"])
        for claim in spec.get("volumeClaimTemplates", []):
            cls = claim["spec"].get("storageClassName") or "(default)"
            size = mebibytes(claim["spec"]["resources"]["requests"]["storage"])
            storage[cls] = storage.get(cls, 0) + replicas * size
    return {**totals, "storage_gib": {k: v / 1024 for k, v in sorted(storage.items())}}


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"CPU requests {figures['cpu_requests']:.2f} cores, limits {figures['cpu_limits']:.2f}",
        f"memory requests {figures['memory_requests'] / 1024:.2f} GiB, "
        f"limits {figures['memory_limits'] / 1024:.2f} GiB",
    ]
    for cls, gib in figures["storage_gib"].items():
        lines.append(f"storage {cls} {gib:.0f} GiB")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overlay", nargs="?", default="gke", choices=("gke", "local"))
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("render", Path(__file__).with_name("render.py"))
    assert spec and spec.loader
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    objects = [d for d in yaml.safe_load_all(render.kustomize_build(args.overlay)) if d]
    sys.stdout.write(report(sizing(objects)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
