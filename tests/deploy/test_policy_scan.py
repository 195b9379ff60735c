"""checkov (PyPI, pinned in deploy/kubernetes/tools/requirements-checkov.txt) on the rendered
manifests of every overlay and on the Terraform. checkov's open-source output carries no
severities, so the bar is: no failed check at all, except the skips below (every run) and the
per-resource skips written next to the resource (`checkov.io/skipN` annotations in the manifests,
`#checkov:skip=` comments in the Terraform), each with its reason. docs/deploy-kubernetes.md
lists them all.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OVERLAYS, ROOT

pytestmark = pytest.mark.timeout(1800)

# Skipped for every resource, and why.
GLOBAL_SKIPS = {
    "CKV_K8S_15": "imagePullPolicy IfNotPresent, not Always: every image is pinned by a version "
    "tag, and on kind/minikube (overlay local) locally loaded images cannot be pulled",
    "CKV_K8S_43": "images by tag, not digest: the pipeline's own images are built by the user "
    "(their digest is known only after the push) and third-party tags are the compose pins",
}


def run_checkov(checkov: str, directory: Path, framework: str) -> dict[str, Any]:
    command = [checkov, "--directory", str(directory), "--framework", framework]
    command += ["--output", "json", "--skip-download", "--skip-check", ",".join(GLOBAL_SKIPS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1, [r.get("check_type") for r in reports]
    return reports[0]


def failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for f in report["results"]["failed_checks"]
    ]


def assert_skips_have_reasons(report: dict[str, Any]) -> None:
    """Every per-resource skip states its reason (checkov.io/skipN: ID=reason, #checkov:skip=)."""
    for skipped in report["results"]["skipped_checks"]:
        if skipped["check_id"] in GLOBAL_SKIPS:
            continue
        reason = skipped.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} {skipped['resource']}: no reason given"


def test_rendered_manifests_pass_the_policy_scan(rendered, tool, tmp_path):
    for overlay in OVERLAYS:
        (tmp_path / overlay).mkdir()
        (tmp_path / overlay / "manifests.yaml").write_text(yaml.safe_dump_all(rendered[overlay]))
    report = run_checkov(tool("checkov"), tmp_path, "kubernetes")
    summary = report["summary"]
    print(f"checkov kubernetes: {summary}")
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 100
    assert not failures(report), "\n".join(failures(report))
    assert_skips_have_reasons(report)


def test_terraform_passes_the_policy_scan(tool):
    report = run_checkov(tool("checkov"), ROOT / "deploy/terraform/gke", "terraform")
    print(f"checkov terraform: {report['summary']}")
    assert report["summary"]["resource_count"] >= 15
    assert not failures(report), "\n".join(failures(report))
    assert_skips_have_reasons(report)


def test_the_scan_finds_a_violation(tool, rendered, tmp_path):
    """The scan can fail: a privileged container in an otherwise passing manifest is reported."""
    deployment = next(o for o in rendered["local"] if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["privileged"] = True
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(deployment))
    report = run_checkov(tool("checkov"), tmp_path, "kubernetes")
    assert any(f.startswith("CKV_K8S_16 ") for f in failures(report)), failures(report)
