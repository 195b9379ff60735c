"""Prometheus plumbing. Each service builds its own CollectorRegistry in main() and passes it to the
code that defines and counts its metrics, so tests get a fresh registry and nothing is global."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> None:
    """Expose the registry on http://host:port/metrics (port 0: do not serve)."""
    if port:
        start_http_server(port, addr=host, registry=registry)
