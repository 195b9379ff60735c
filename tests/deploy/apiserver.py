"""A real kube-apiserver on etcd, started for the tests, and a minimal client for it.

The API server is the upstream one (built by deploy/kubernetes/tools/install-tools.sh from the Go
module proxy), etcd is Debian's. Everything they need is generated in a temporary directory at
run time: a service-account signing key (openssl), a bearer token for an admin user (token file),
self-signed serving certificates (the API server's own --cert-dir). Nothing runs but the API
server and etcd: no controllers, no scheduler, so dry-run requests exercise exactly admission and
validation.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class ApiServer:
    """kube-apiserver + etcd as child processes; stop() ends both."""

    def __init__(self, apiserver: str, etcd: str, workdir: Path) -> None:
        self.workdir = workdir
        self.token = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE  # self-signed, loopback only
        self._processes: list[subprocess.Popen[bytes]] = []
        self._start(apiserver, etcd)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._processes.append(process)
        return process

    def _start(self, apiserver: str, etcd: str) -> None:
        w = self.workdir
        etcd_port, peer_port = free_port(), free_port()
        self._spawn("etcd", [
            etcd, "--name=test", f"--data-dir={w / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=test=http://127.0.0.1:{peer_port}",
        ])  # fmt: skip
        subprocess.run(
            ["openssl", "genrsa", "-out", str(w / "sa.key"), "2048"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["openssl", "rsa", "-in", str(w / "sa.key"), "-pubout", "-out", str(w / "sa.pub")],
            check=True, capture_output=True,
        )  # fmt: skip
        (w / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        self._spawn("kube-apiserver", [
            apiserver,
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", f"--cert-dir={w / 'certs'}",
            f"--token-auth-file={w / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={w / 'sa.pub'}",
            f"--service-account-signing-key-file={w / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--enable-priority-and-fairness=false",
        ])  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited: {self.logs()}")
            try:
                if self.request("GET", "/readyz").status == 200:
                    return
            except OSError as error:
                last = str(error)
            time.sleep(0.5)
        raise TimeoutError(f"kube-apiserver not ready after {timeout} s ({last}): {self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )

    def request(self, method: str, path: str, body: Any = None) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=30) as answer:
                status, raw, headers = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), error.headers
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            parsed = {"raw": raw.decode(errors="replace")}
        return Response(status, parsed, headers.get_all("Warning") or [])

    def resources(self) -> dict[tuple[str, str], tuple[str, bool]]:
        """(apiVersion, kind) -> (plural resource name, namespaced), from discovery."""
        found: dict[tuple[str, str], tuple[str, bool]] = {}
        versions = ["v1"]
        for group in self.request("GET", "/apis").body.get("groups", []):
            versions += [v["groupVersion"] for v in group["versions"]]
        for version in versions:
            prefix = "/api/" if version == "v1" else "/apis/"
            for res in self.request("GET", prefix + version).body.get("resources", []):
                if "/" not in res["name"]:
                    found[(version, res["kind"])] = (res["name"], res["namespaced"])
        return found

    def collection_path(self, obj: dict[str, Any], resources: dict) -> str:
        version, kind = obj["apiVersion"], obj["kind"]
        if (version, kind) not in resources:
            raise KeyError(f"the API server serves no {kind} in {version}")
        plural, namespaced = resources[(version, kind)]
        prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
        if namespaced:
            namespace = obj["metadata"].get("namespace", "default")
            return f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{prefix}/{plural}"

    def create(self, obj: dict[str, Any], resources: dict, dry_run: bool = True) -> Response:
        query = "?fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
        return self.request("POST", self.collection_path(obj, resources) + query, obj)

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in reversed(self._processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
