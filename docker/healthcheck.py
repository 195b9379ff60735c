"""Container healthcheck of a Python service: its Prometheus metrics endpoint answers.

Usage (the images' HEALTHCHECK and the compose healthchecks):
    python /app/docker/healthcheck.py <settings field of the metrics port | port number>
e.g. `sink_metrics_port`: the port is then read through the same settings model the service uses,
so an override such as SINK_METRICS_PORT=9000 moves the healthcheck with the service. A number is
for the exporters, which take their port on the command line. Exit 0 healthy, 1 unhealthy (the
reason on stderr), 2 usage error. Standard library + the package only.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0


def metrics_url(port: int, host: str = "127.0.0.1") -> str:
    """The endpoint probed for a given metrics port."""
    return f"http://{host}:{port}/metrics"


def probe(url: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """None when the endpoint answers 200 with Prometheus text; otherwise the reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return f"{url} answered HTTP {response.status}"
            body = response.read(65536)
    except (urllib.error.URLError, OSError) as error:
        return f"{url} unreachable: {error}"
    if b"# TYPE" not in body and b"# HELP" not in body:
        return f"{url} answered, but not with Prometheus metrics"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: healthcheck.py <metrics port settings field | port>\n")
        return 2
    if argv[1].isdigit() and 0 < int(argv[1]) < 65536:
        return report(probe(metrics_url(int(argv[1]))))
    from iot_pipeline.config.settings import Settings, SettingsError, load_settings

    field = argv[1]
    if field not in Settings.model_fields or not field.endswith("_metrics_port"):
        sys.stderr.write(f"healthcheck: {field!r} is not a metrics port setting\n")
        return 2
    try:
        port = getattr(load_settings(), field)
    except SettingsError as error:
        sys.stderr.write(f"healthcheck: {error}\n")
        return 1
    if not port:
        sys.stderr.write(f"healthcheck: {field.upper()}=0, the service serves no metrics\n")
        return 1
    return report(probe(metrics_url(port)))


def report(problem: str | None) -> int:
    if problem:
        sys.stderr.write(f"healthcheck: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
