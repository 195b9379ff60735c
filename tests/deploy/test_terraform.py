"""deploy/terraform/gke: formatted (`terraform fmt -check` or `tofu fmt -check` when one is on
the machine) and parsed by an HCL parser from PyPI (python-hcl2) on every machine. `validate` and
`plan` need the Google provider, which these machines cannot download: they are not run here."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import hcl2
import pytest

from tests.deploy.conftest import ROOT

TERRAFORM = ROOT / "deploy/terraform/gke"


def unquote(node: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and block labels: drop them."""
    if isinstance(node, dict):
        return {unquote(k): unquote(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [unquote(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def parsed() -> dict[str, dict]:
    return {
        path.name: unquote(hcl2.loads(path.read_text())) for path in sorted(TERRAFORM.glob("*.tf"))
    }


def test_every_file_parses():
    files = parsed()
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= set(files)


def blocks(kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for content in parsed().values():
        for block in content.get(kind, []):
            found.update(block)
    return found


def test_variables_and_outputs_are_described():
    variables, outputs = blocks("variable"), blocks("output")
    assert {"project_id", "region", "zone", "machine_type", "min_nodes", "max_nodes"} <= set(
        variables
    )
    assert {"backup_bucket", "image_registry", "get_credentials"} <= set(outputs)
    for name, body in {**variables, **outputs}.items():
        assert body.get("description"), f"{name} has no description"


def test_the_cluster_is_the_seed_design_s():
    resources: dict[str, dict] = {}
    for content in parsed().values():
        for block in content.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    resources[f"{kind}.{name}"] = body
    variables = blocks("variable")
    cluster = resources["google_container_cluster.this"]
    pool = resources["google_container_node_pool.default"]
    assert variables["machine_type"]["default"] == "e2-standard-4"
    assert (variables["min_nodes"]["default"], variables["max_nodes"]["default"]) == (1, 3)
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"  # network policy enforcement
    assert cluster["private_cluster_config"][0]["enable_private_nodes"] is True
    assert "workload_pool" in cluster["workload_identity_config"][0]
    assert cluster["enable_shielded_nodes"] is True
    assert pool["node_config"][0]["shielded_instance_config"][0]["enable_secure_boot"] is True
    assert pool["node_config"][0]["workload_metadata_config"][0]["mode"] == "GKE_METADATA"
    assert "google_compute_router_nat.nat" in resources


def test_nothing_generated_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files", str(TERRAFORM)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    generated = [p for p in tracked if ".terraform" in p or "tfstate" in p or p.endswith(".tfvars")]
    assert not generated


@pytest.mark.skipif(
    not (shutil.which("terraform") or shutil.which("tofu")),
    reason="no terraform/tofu binary on this machine; the HCL parser tests above still run",
)
def test_terraform_fmt_check():
    binary = shutil.which("tofu") or shutil.which("terraform")
    result = subprocess.run(
        [binary, "fmt", "-check", "-diff", "-recursive", str(TERRAFORM)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
