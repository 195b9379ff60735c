"""The README's Docker quick start names only services and containers that exist,
and its commands use the compose file and the env file that exist."""

from __future__ import annotations

import re
import shlex
from typing import Any

from bench.storage import markdown_section
from tests.docker.conftest import REPO

README = REPO / "README.md"


def docker_section() -> str:
    return markdown_section(README.read_text(encoding="utf-8"), "Docker")


# Compose subcommands whose non-flag arguments are service names.
SERVICE_SUBCOMMANDS = {"logs", "restart", "ps", "build", "up", "stop", "start", "rm", "pull"}


def _commands(text: str) -> list[list[str]]:
    """Shell commands of the page's ```bash blocks (comments dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return commands


def names_in_doc(text: str) -> tuple[set[str], set[str], list[str]]:
    """(service names, container names, compose files) the page's commands use."""
    services: set[str] = set()
    containers: set[str] = set()
    files: list[str] = []
    for words in _commands(text):
        if words[:2] == ["docker", "exec"]:
            rest = [w for w in words[2:] if not w.startswith("-")]
            containers.add(rest[0])
        elif words[:2] == ["docker", "compose"]:
            rest = words[2:]
            while rest and rest[0].startswith("-"):
                flag = rest.pop(0)
                if flag in ("-f", "--file", "--env-file", "-p", "--profile"):
                    value = rest.pop(0)
                    if flag in ("-f", "--file"):
                        files.append(value)
            if rest and rest[0] in SERVICE_SUBCOMMANDS:
                services.update(w for w in rest[1:] if not w.startswith("-"))
    # Names in `inline code` that look like compose service names (e.g. `kafka-producer`).
    for name in re.findall(r"`([a-z][a-z0-9]*(?:-[a-z0-9]+)+)`", text):
        services.add(name)
    return services, containers, files


def test_every_service_and_container_the_quick_start_names_exists(
    services: dict[str, Any],
) -> None:
    text = docker_section()
    named_services, named_containers, _ = names_in_doc(text)
    container_names = {s.get("container_name", name) for name, s in services.items()}
    assert len(named_services) >= 8 and len(named_containers) >= 2
    unknown = named_services - set(services) - container_names
    assert not unknown, (
        f"the README's Docker section names services the compose file lacks: {unknown}"
    )
    assert not named_containers - container_names, named_containers - container_names


def test_quick_start_commands_use_the_real_compose_file() -> None:
    text = docker_section()
    _, _, files = names_in_doc(text)
    assert files and set(files) == {"docker/docker-compose.yml"}
    assert (REPO / "docker/docker-compose.yml").is_file()
    assert "cp docker/.env.example docker/.env" in text
    for url_port in ("8080", "3000", "9090", "9095", "8025"):
        assert f"http://localhost:{url_port}" in text


def test_names_in_doc_finds_every_kind_of_reference() -> None:
    text = (
        "```bash\n"
        "docker compose -f x.yml logs -f svc-a svc-b  # comment svc-z\n"
        "docker exec -it box-1 psql\n"
        "docker compose -f x.yml --env-file e up -d --build svc-c\n"
        "```\n"
        "Run `svc-d` and `not_a_service`.\n"
    )
    services, containers, files = names_in_doc(text)
    assert services == {"svc-a", "svc-b", "svc-c", "svc-d"}
    assert containers == {"box-1"}
    assert files == ["x.yml", "x.yml"]


def test_every_localhost_port_the_page_names_is_published(services: dict[str, Any]) -> None:
    text = docker_section()
    published = {
        int(port["published"])
        for service in services.values()
        for port in service.get("ports", [])
        if port.get("published")
    }
    named = {int(port) for port in re.findall(r"localhost:(\d+)", text)}
    assert len(named) >= 8
    assert named <= published, (
        f"the README's Docker section names ports nothing publishes: {named - published}"
    )
