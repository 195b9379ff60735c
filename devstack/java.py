"""Which Java runs the JVM services: JAVA_HOME, the system's, or the newest under /usr/lib/jvm
that the Apicurio registry accepts; its class-data-sharing archive (standard library only)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from devstack.config import StackConfig
from devstack.service_base import SetupError


def java_bin(cfg: StackConfig) -> str:
    home = cfg.env.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise SetupError("no 'java' found (JDK 17+ needed for Kafka and Apicurio)")
    return found


# Apicurio Registry 3 (Quarkus 3.15) needs Java 21 or newer; Kafka runs on the default java (17).
REGISTRY_MIN_JAVA = 21
JVM_ROOT = Path("/usr/lib/jvm")


def java_major_version(version_output: str) -> int | None:
    """The feature release in ``java -version`` output: 'openjdk version "25.0.3" ...' -> 25,
    '"17" ...' -> 17, '"1.8.0_392"' -> 8; None when there is no version line."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def java_candidates(env: dict[str, str], jvm_root: Path = JVM_ROOT) -> list[str]:
    """Where to look for a java, in order of preference: $REGISTRY_JAVA_HOME, $JAVA_HOME, the
    java on PATH, then every JDK/JRE under /usr/lib/jvm (newest-looking name first). Each
    binary appears once (symlinked aliases of one JDK are collapsed)."""
    paths: list[Path] = []
    for var in ("REGISTRY_JAVA_HOME", "JAVA_HOME"):
        if env.get(var):
            paths.append(Path(env[var]) / "bin" / "java")
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        paths.append(Path(on_path))
    if jvm_root.is_dir():
        paths += sorted(
            jvm_root.glob("*/bin/java"), key=lambda p: p.parent.parent.name, reverse=True
        )
    seen: set[str] = set()
    out: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(str(path))
    return out


def choose_java(versions: list[tuple[str, int | None]], minimum: int) -> str:
    """The first candidate whose major version is at least ``minimum``; otherwise a SetupError
    that names what was found and what is missing."""
    for path, major in versions:
        if major is not None and major >= minimum:
            return path
    found = ", ".join(f"{p} ({'unknown version' if m is None else m})" for p, m in versions)
    raise SetupError(
        f"registry: Apicurio Registry 3 needs Java {minimum} or newer, and none was found "
        f"(looked at $REGISTRY_JAVA_HOME, $JAVA_HOME, PATH and {JVM_ROOT}/*: "
        f"{found or 'no java at all'}). Install a JDK {minimum}+ (e.g. Temurin 25 under "
        f"{JVM_ROOT}) or point REGISTRY_JAVA_HOME at one."
    )


def _java_version_of(java: str) -> int | None:
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return java_major_version(result.stderr + result.stdout)


def registry_java_bin(cfg: StackConfig) -> str:
    """A java >= REGISTRY_MIN_JAVA for the registry (the machine's default may be older)."""
    explicit = cfg.env.get("REGISTRY_JAVA_HOME")
    candidates = java_candidates(cfg.env)
    if explicit:
        # Named explicitly: use that one or say why not, never silently another.
        candidates = [c for c in candidates if c == str(Path(explicit) / "bin" / "java")] or [
            str(Path(explicit) / "bin" / "java")
        ]
    versions: list[tuple[str, int | None]] = []
    for java in candidates:
        versions.append((java, _java_version_of(java)))
        if versions[-1][1] is not None and versions[-1][1] >= REGISTRY_MIN_JAVA:
            break
    return choose_java(versions, REGISTRY_MIN_JAVA)


def class_data_sharing(archive: Path) -> list[str]:
    """JVM flags for AppCDS: the first run writes a class archive when it exits normally, later runs
    map it and start faster (a missing or stale archive is ignored: -Xshare:auto)."""
    if archive.exists():
        return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
    return [f"-XX:ArchiveClassesAtExit={archive}"]
