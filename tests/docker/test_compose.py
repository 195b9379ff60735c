"""Structural tests of the Docker Compose deployment, on the model a real Compose v2 renders.

No Docker engine is needed: `docker compose config` validates the file against the Compose
specification and interpolates it; the tests then check what an engine could not catch cheaply
either (missing files, unpinned images, clashing ports, settings the code does not know)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_pipeline.config.settings import Settings
from tests.docker.conftest import (
    ALL_PROFILES,
    COMPOSE_FILE,
    DOCKERFILE,
    REPO,
    TEST_SECRETS,
    Compose,
)
from tests.docker.helpers import is_pinned, parse_dockerfile, published_host_ports

PYTHON_TARGETS = {
    "producer", "ruuvitag-adapter", "consumer", "timescaledb-sink", "lake-archiver", "exporters",
}  # fmt: skip
# Long-running Python services and the settings field of their metrics port (the contract's ports).
PYTHON_SERVICES = {
    "kafka-producer": ("simulator_metrics_port", 8000),
    "kafka-consumer": ("alerts_metrics_port", 8001),
    "ruuvitag-adapter": ("adapter_metrics_port", 8002),
    "timescaledb-sink": ("sink_metrics_port", 8003),
    "lake-archiver": ("lake_metrics_port", 8005),
}
ONE_SHOT_JOBS = {"kafka-topics", "timescaledb-migrate", "cert-init", "mqtt-auth-init", "kafka-init"}
# One-shot jobs on a Python image that run docker/init scripts with their own variables (not the
# pipeline's settings).
INIT_SCRIPTS = {"cert-init", "mqtt-auth-init"}
# The owner's storage maintenance: a Python service without a metrics port.
MAINTENANCE = "timescaledb-maintenance"
# What the migration job's second step (docker/init/pg_logins.py) reads besides the settings.
PG_LOGIN_PASSWORDS = {
    "POSTGRES_SINK_PASSWORD",
    "POSTGRES_READONLY_PASSWORD",
    "POSTGRES_MONITORING_PASSWORD",
}
# The project's own exporters (src/iot_pipeline/exporters): configured on the command line.
EXPORTERS = {"mosquitto-exporter": 9234, "kafka-lag-exporter": 9308}
# The services issue 9 lists; the compose file may have more, never fewer.
REQUIRED_SERVICES = {
    "kafka-broker-1",
    "kafka-broker-2",
    "kafka-broker-3",
    "kafka-topics",
    "schema-registry",
    "kafka-ui",
    "mosquitto",
    "ruuvitag-adapter",
    "kafka-producer",
    "kafka-consumer",
    "timescaledb",
    "timescaledb-migrate",
    "timescaledb-sink",
    "prometheus",
    "alertmanager",
    "grafana",
    "mailpit",
    "postgres-exporter",
    "node-exporter",
    "cadvisor",
    "mosquitto-exporter",
}
# Host paths outside the repository that system exporters may mount (read-only), and by whom.
HOST_SYSTEM_MOUNTS = {
    "node-exporter": {"/"},
    "cadvisor": {"/", "/var/run", "/sys", "/var/lib/docker", "/dev/disk"},
}
BROKERS = ("kafka-broker-1", "kafka-broker-2", "kafka-broker-3")


def _is_job(service: dict[str, Any]) -> bool:
    return service.get("healthcheck", {}).get("disable") is True


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {
        key: "" if value is None else str(value)
        for key, value in service.get("environment", {}).items()
    }


def _python_target(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    if not build:
        return None
    target = build.get("target")
    return target if target in PYTHON_TARGETS else None


# --- the model is valid, and complete -----------------------------------------------------------


def test_compose_config_accepts_the_file_with_the_example_env(
    compose: Compose, env_file: Path
) -> None:
    result = compose.run("config", "--quiet", env_file=env_file, profiles=ALL_PROFILES)
    assert result.returncode == 0


def test_all_services_of_the_issue_are_there(services: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("secret", sorted(TEST_SECRETS))
def test_compose_refuses_to_start_without_a_required_secret(
    compose: Compose, env_file_factory: Callable[..., Path], secret: str
) -> None:
    result = compose.run(
        "config", "--quiet", env_file=env_file_factory(**{secret: ""}), check=False
    )
    assert result.returncode != 0, f"compose rendered the model with {secret} empty"
    assert secret in result.stderr and "docker/.env" in result.stderr, result.stderr


def test_secrets_reach_only_their_consumers_and_have_no_default() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for secret in TEST_SECRETS:
        uses = re.findall(r"\$\{" + secret + r"(:?[-?=+][^}]*)?\}", text)
        assert uses, f"{secret} is never used"
        for modifier in uses:
            assert modifier.startswith(":?"), (
                f"${{{secret}{modifier}}}: a required secret must use :? (no fallback value)"
            )


# --- every service: healthcheck, pinned image, restart, limits, one network ----------------------


def test_every_server_has_a_healthcheck_and_jobs_are_awaited(services: dict[str, Any]) -> None:
    awaited = {
        name
        for service in services.values()
        for name, dep in service.get("depends_on", {}).items()
        if dep["condition"] == "service_completed_successfully"
    }
    for name, service in services.items():
        if _is_job(service):
            assert name in awaited, f"{name} has no healthcheck but no one waits for it to finish"
            assert service.get("restart") in (None, "no"), f"job {name} must not restart"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (
            f"{name} has no healthcheck"
        )
    assert {name for name, service in services.items() if _is_job(service)} == ONE_SHOT_JOBS


def test_depends_on_waits_for_health_or_completion(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dep_name, dep in service.get("depends_on", {}).items():
            assert dep_name in services, f"{name} depends on unknown {dep_name}"
            dependency = services[dep_name]
            if _is_job(dependency):
                assert dep["condition"] == "service_completed_successfully", (name, dep_name)
            else:
                assert dep["condition"] == "service_healthy", (name, dep_name)


def test_every_image_is_pinned_or_built_here(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            assert Path(build["context"]).resolve() == REPO, name
            assert Path(build["context"], build["dockerfile"]).resolve() == DOCKERFILE, name
            assert service["image"].startswith("iot-pipeline/"), name
        else:
            assert is_pinned(service["image"]), f"{name}: image {service['image']} is not pinned"


def test_dockerfile_base_images_are_pinned_and_targets_exist(services: dict[str, Any]) -> None:
    dockerfile = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    names = {stage.name for stage in dockerfile.stages}
    for stage in dockerfile.stages:
        base = dockerfile.resolve(stage.base)
        if base in names:
            continue
        assert is_pinned(base), f"Dockerfile line {stage.line}: FROM {base} is not pinned"
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["target"] in names, f"{name}: no such Dockerfile target"


def test_restart_policies(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if not _is_job(service):
            assert service.get("restart") in ("unless-stopped", "always"), name


def test_resource_limits_fit_a_laptop(services: dict[str, Any]) -> None:
    total_memory = 0
    for name, service in services.items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert "memory" in limits and "cpus" in limits, f"{name} has no resource limits"
        if not _is_job(service):
            total_memory += int(limits["memory"])
    assert total_memory <= 10 * 1024**3, f"limits add up to {total_memory / 1024**3:.1f} GiB"


def test_one_network_and_named_volumes_for_data(model: dict[str, Any]) -> None:
    assert list(model["networks"]) == ["iot-pipeline"]
    declared = set(model["volumes"])
    used = set()
    for name, service in model["services"].items():
        assert list(service["networks"]) == ["iot-pipeline"], name
        for mount in service.get("volumes", []):
            if mount["type"] == "volume":
                assert mount["source"] in declared, f"{name}: undeclared volume {mount['source']}"
                used.add(mount["source"])
    assert used == declared, f"declared but unused volumes: {sorted(declared - used)}"
    data_dirs = {
        "kafka-broker-1": "/var/lib/kafka/data",
        "timescaledb": "/var/lib/postgresql/data",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
        "mosquitto": "/mosquitto/data",
        "alertmanager": "/alertmanager",
    }
    for name, target in data_dirs.items():
        kinds = {m["target"]: m["type"] for m in model["services"][name]["volumes"]}
        assert kinds.get(target) == "volume", f"{name}: {target} is not on a named volume"


def test_no_two_services_publish_the_same_host_port(services: dict[str, Any]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, service in services.items():
        for _, port, protocol in published_host_ports(service):
            key = (port, protocol)
            assert key not in seen, f"host port {port}/{protocol}: {seen[key]} and {name}"
            seen[key] = name
    for port in (29092, 29093, 29094, 8081, 8080, 1883, 5432, 9090, 9095, 3000, 8025):
        assert (port, "tcp") in seen, f"nothing publishes port {port}"


# --- Python services: settings, ports, images ---------------------------------------------------


def _known_settings() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_python_services_receive_only_settings_the_code_knows(services: dict[str, Any]) -> None:
    known = _known_settings()
    checked = 0
    for name, service in services.items():
        if _python_target(service) is None or name in INIT_SCRIPTS:
            continue
        extra = PG_LOGIN_PASSWORDS if name == "timescaledb-migrate" else set()
        unknown = set(_env(service)) - known - extra
        assert not unknown, f"{name} receives variables the settings model lacks: {unknown}"
        checked += 1
    jobs = ONE_SHOT_JOBS - INIT_SCRIPTS - {"kafka-init"}
    assert checked == len(PYTHON_SERVICES) + len(jobs) + len(EXPORTERS) + 1  # + maintenance


def test_python_service_environments_are_valid_settings(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if _python_target(service) is None or name in EXPORTERS or name in INIT_SCRIPTS:
            continue
        if name in (MAINTENANCE, "timescaledb-migrate"):  # the database only
            continue
        # Named-only settings (None) are passed just when docker/.env sets them.
        values = {
            key.lower(): str(value)
            for key, value in service["environment"].items()
            if value is not None
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        assert settings.kafka_bootstrap_servers.count("kafka-broker-") == 3, name
        assert settings.schema_registry_url == "http://schema-registry:8081", name


def test_python_services_expose_their_contract_metrics_port(services: dict[str, Any]) -> None:
    for name, (field, port) in PYTHON_SERVICES.items():
        service = services[name]
        assert _env(service)[field.upper()] == str(port), name
        assert service["healthcheck"]["test"][-1] == field, name
        targets = {p["target"] for p in service.get("ports", [])}
        assert port in targets, f"{name} does not publish its metrics port {port}"


def _flags(command: list[str]) -> dict[str, str]:
    """--name=value arguments of a command, as {name: value}."""
    return dict(arg.removeprefix("--").split("=", 1) for arg in command if arg.startswith("--"))


def test_exporters_watch_the_pipeline_s_brokers_and_mqtt(services: dict[str, Any]) -> None:
    bootstrap = _env(services["kafka-consumer"])["KAFKA_BOOTSTRAP_SERVERS"]
    for name, port in EXPORTERS.items():
        service = services[name]
        flags = _flags(service["command"])
        assert flags["listen-host"] == "0.0.0.0" and flags["port"] == str(port), name
        assert service["healthcheck"]["test"][-1] == str(port), name
        assert port in {p["target"] for p in service["ports"]}, name
    assert _flags(services["kafka-lag-exporter"]["command"])["bootstrap-servers"] == bootstrap
    mqtt = _flags(services["mosquitto-exporter"]["command"])
    assert (mqtt["mqtt-host"], mqtt["mqtt-port"]) == ("mosquitto", "1883")


def test_exporter_flags_are_ones_the_modules_accept(services: dict[str, Any]) -> None:
    import subprocess
    import sys

    for name in EXPORTERS:
        command = services[name]["command"]
        module = command[command.index("-m") + 1]
        flags = {arg.split("=", 1)[0] for arg in command if arg.startswith("--")}
        usage = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
        )
        assert usage.returncode == 0, usage.stderr
        unknown = {flag for flag in flags if flag not in usage.stdout}
        assert not unknown, f"{name}: {module} does not accept {unknown}"


def test_every_python_module_or_script_a_command_runs_exists(services: dict[str, Any]) -> None:
    import importlib.util

    checked = 0
    for name, service in services.items():
        command = " ".join(service.get("command") or [])
        for module in re.findall(r"python -m ([\w.]+)", command):
            assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"
            checked += 1
        for script in re.findall(r"python (\S+\.py)", command):
            # docker/init is mounted at /opt/project/init (with devstack beside it).
            script = script.replace("/opt/project/init/", "docker/init/")
            if not script.startswith("/app/docker/"):
                assert (REPO / script).is_file(), f"{name}: no script {script}"
                checked += 1
    assert checked >= 4


def test_sink_and_migration_job_use_the_repository_migrations(services: dict[str, Any]) -> None:
    for name in ("timescaledb-migrate", "timescaledb-sink"):
        env = _env(services[name])
        mounts = {m["target"]: m for m in services[name].get("volumes", [])}
        target = env["POSTGRES_MIGRATIONS_DIR"]
        assert Path(mounts[target]["source"]) == REPO / "database" / "migrations", name
        assert mounts[target].get("read_only") is True, name
        assert env["POSTGRES_HOST"] == "timescaledb", name
    # Migrations as the owner, then the least-privilege logins (docker/init/pg_logins.py).
    assert services["timescaledb-migrate"]["command"] == [
        "sh",
        "-c",
        "python -m iot_pipeline.storage.migrate && python /opt/project/init/pg_logins.py",
    ]
    assert "python -m iot_pipeline.kafka.topics && exit 0" in " ".join(
        services["kafka-topics"]["command"]
    )


# --- files: mounts, Dockerfile COPY sources, build context --------------------------------------


def test_every_mounted_file_exists(services: dict[str, Any]) -> None:
    checked = 0
    for name, service in services.items():
        for mount in service.get("volumes", []):
            if mount["type"] != "bind":
                continue
            source = Path(mount["source"])
            if REPO in source.parents or source == REPO:
                assert source.exists(), (
                    f"{name} mounts {source.relative_to(REPO)}, which is missing"
                )
                assert mount.get("read_only") is True, f"{name} mounts {source} writable"
                checked += 1
            else:
                allowed = HOST_SYSTEM_MOUNTS.get(name, set())
                assert str(source) in allowed, f"{name} mounts host path {source}"
                assert mount.get("read_only") is True, f"{name} mounts host {source} writable"
    assert checked >= 8


def test_mounts_are_the_files_the_native_stack_uses(services: dict[str, Any]) -> None:
    from devstack import kafka_services, mosquitto
    from devstack import services as native

    def bind(service: str, target: str) -> Path:
        mounts = {m["target"]: Path(m["source"]) for m in services[service]["volumes"]}
        return mounts[target]

    monitoring = REPO / "monitoring"
    # mqtt-auth-init renders the broker's configuration from the project's file.
    assert bind("mqtt-auth-init", "/opt/project/mosquitto.conf") == mosquitto.MOSQUITTO_CONF
    for init in ("cert-init", "mqtt-auth-init", "timescaledb-migrate"):
        assert bind(init, "/opt/project/devstack") == REPO / "devstack"
        assert bind(init, "/opt/project/init") == REPO / "docker" / "init"
    assert bind("prometheus", "/etc/prometheus/rules") == monitoring / "prometheus/rules"
    # The compose variant is rendered from the same monitoring/targets.yml as the native file.
    assert bind("prometheus", "/etc/prometheus/prometheus.yml") == (
        monitoring / "prometheus/prometheus.compose.yml"
    )
    assert monitoring / "prometheus/prometheus.yml" == native.PROMETHEUS_CONF
    # Both Alertmanager files are rendered from one alertmanager.base.yml by monitoring/generate.py.
    assert (
        bind("alertmanager", "/etc/alertmanager/alertmanager.yml")
        == monitoring / "alertmanager/alertmanager.compose.yml"
    )
    assert (
        bind("postgres-exporter", "/etc/postgres-exporter/queries.yml")
        == monitoring / "postgres/queries.yml"
    )
    assert (
        "--extend.query-path=/etc/postgres-exporter/queries.yml"
        in (services["postgres-exporter"]["command"])
    )
    assert bind("grafana", "/var/lib/grafana/dashboards") == monitoring / "grafana/dashboards"
    assert bind("grafana", "/etc/grafana/provisioning") == monitoring / "grafana/provisioning"
    for broker in BROKERS:
        assert bind(broker, "/etc/jmx-exporter/kafka.yml") == kafka_services.KAFKA_JMX_EXPORTER_CONF


def test_every_compose_scrape_target_is_a_service_listening_there(
    services: dict[str, Any],
) -> None:
    import yaml

    config = yaml.safe_load(
        (REPO / "monitoring/prometheus/prometheus.compose.yml").read_text(encoding="utf-8")
    )
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    targets += [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert len(targets) >= 10
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in services, f"Prometheus scrapes {target}, but there is no service {host}"
        # JMX exporter agents listen on the port named in their -javaagent argument.
        listening = _listening(services[host])
        assert int(port) in listening, f"Prometheus scrapes {target}; {host} listens on {listening}"


def _listening(service: dict[str, Any]) -> set[int]:
    ports = {int(p["target"]) for p in service.get("ports", [])}
    env = _env(service)
    for value in env.values():
        ports.update(int(m) for m in re.findall(r"javaagent:[^=]+=(\d+):", value))
    if "JMX_EXPORTER_PORT" in env:
        ports.add(int(env["JMX_EXPORTER_PORT"]))
    return ports


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_grafana_provisioning_resolves_inside_compose(services: dict[str, Any]) -> None:
    import yaml

    grafana = services["grafana"]
    env = _env(grafana)
    mounts = {m["target"] for m in grafana["volumes"]}
    provisioning = REPO / "monitoring/grafana/provisioning"
    files = sorted(provisioning.rglob("*.yml")) + sorted(provisioning.rglob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text) or {}
        # Grafana expands $VAR / ${VAR} in the files' values from its environment.
        for value in _strings(document):
            for braced, bare in re.findall(r"\$\{(\w+)\}|\$([A-Za-z_]\w*)", value):
                name = braced or bare
                assert env.get(name), f"{path.name} reads ${name}; grafana's environment lacks it"
        for provider in document.get("providers", []):
            assert provider["options"]["path"] in mounts, f"{path.name}: dashboards not mounted"
        for source in document.get("datasources", []):
            address = re.sub(r"^\w+://", "", source["url"]).split("/")[0]
            host, port = address.rsplit(":", 1)
            assert host in services, f"datasource {source['name']}: no service {host}"
            assert int(port) in _listening(services[host]), f"datasource {source['name']}"


def test_alertmanager_mails_through_mailpit(services: dict[str, Any]) -> None:
    import yaml

    config = yaml.safe_load(
        (REPO / "monitoring/alertmanager/alertmanager.compose.yml").read_text(encoding="utf-8")
    )
    host, port = config["global"]["smtp_smarthost"].rsplit(":", 1)
    assert host == "mailpit" and int(port) in _listening(services["mailpit"])


# --- Kafka ---------------------------------------------------------------------------------------


def test_kafka_brokers_form_one_kraft_quorum_with_host_listeners(
    services: dict[str, Any],
) -> None:
    cluster_ids = set()
    voters = set()
    for index, name in enumerate(BROKERS, start=1):
        env = _env(services[name])
        host_port = 29091 + index
        cluster_ids.add(env["CLUSTER_ID"])
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        assert env["KAFKA_NODE_ID"] == str(index)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
        advertised = dict(
            item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
        assert listeners["INTERNAL"].endswith(":9092")
        assert "CONTROLLER" in listeners and "CONTROLLER" not in advertised
        assert advertised["INTERNAL"] == f"{name}:9092"
        assert advertised["EXTERNAL"] == f"localhost:{host_port}"
        assert listeners["EXTERNAL"].endswith(f":{host_port}")
        assert env["KAFKA_SSL_KEYSTORE_LOCATION"] == f"/certs/{name}/keystore.pem"
        published = {p["target"]: int(p["published"]) for p in services[name]["ports"]}
        assert published[host_port] == host_port
        controller_port = listeners["CONTROLLER"].rsplit(":", 1)[1]
        assert controller_port not in {str(p) for p in published}, "CONTROLLER is published"
        # The agent is added by the image's entrypoint, never through KAFKA_OPTS in the container
        # environment (the CLI tools would start a second agent on the same port and fail).
        assert "javaagent" not in env.get("KAFKA_OPTS", ""), name
        assert "KAFKA_HEAP_OPTS" not in env and "-Xmx" in env["BROKER_HEAP_OPTS"], name
        agent_port = int(env["JMX_EXPORTER_PORT"])
        assert env["JMX_EXPORTER_CONFIG"] in {m["target"] for m in services[name]["volumes"]}
        # Host ports as in the native stack (7071-7073).
        assert published[agent_port] == 7070 + index, f"{name}: JMX exporter port not published"
    assert cluster_ids == {TEST_SECRETS["CLUSTER_ID"]}
    assert voters == {",".join(f"{i}@{b}:9093" for i, b in enumerate(BROKERS, start=1))}


# --- profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profiles", "present", "absent"),
    [
        ("", set(), {"kafka-producer", "ruuvitag-adapter"}),
        ("simulator", {"kafka-producer"}, {"ruuvitag-adapter"}),
        ("gateway", {"ruuvitag-adapter"}, {"kafka-producer"}),
        ("simulator,gateway", {"kafka-producer", "ruuvitag-adapter"}, set()),
    ],
)
def test_profiles_select_simulator_or_gateway(
    compose: Compose, env_file: Path, profiles: str, present: set[str], absent: set[str]
) -> None:
    names = set(compose.model(env_file, profiles=profiles)["services"])
    assert present <= names and not (absent & names), names
    assert {"kafka-consumer", "timescaledb-sink", "mosquitto"} <= names


def test_the_example_env_runs_the_simulator_by_default(
    compose: Compose, env_file: Path, env_example: dict[str, str]
) -> None:
    assert env_example["COMPOSE_PROFILES"] == "simulator"
    # profiles=None: COMPOSE_PROFILES comes from the env file, as for a user.
    names = set(compose.model(env_file, profiles=None)["services"])
    assert "kafka-producer" in names and "ruuvitag-adapter" not in names
