"""First-use installation of whatever the stack needs: Debian packages, TimescaleDB built from
Debian's source package, and the pinned Java artifacts (Kafka, Apicurio, JMX exporter) via Maven.

Every step checks first and does nothing when its result is already there, so a warm ``up``
spends no time here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from devstack.config import PG_MAJOR, POM, TIMESCALEDB_SOURCE_VERSION, StackConfig

# Binary packages the stack runs from (bookworm).
RUNTIME_PACKAGES = [
    f"postgresql-{PG_MAJOR}",
    "mosquitto",
    "mosquitto-clients",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-postgres-exporter",
]
# What building TimescaleDB from source needs.
TIMESCALEDB_BUILD_PACKAGES = [
    f"postgresql-server-dev-{PG_MAJOR}",
    "dpkg-dev",
    "cmake",
    "gcc",
    "make",
    "libssl-dev",
]
JAVA_PACKAGES = {"java": "default-jre-headless", "mvn": "maven"}
# maven-dependency-plugin 3.x's get reads the artifact's pom even with -Dtransitive=false and so
# fails on Apicurio 3 (its parent pom is not on Maven Central); 2.8's get fetches the file alone.
DEPENDENCY_GET_PLUGIN = "2.8"

TRIXIE_SRC_LIST = Path("/etc/apt/sources.list.d/iot-pipeline-trixie-src.sources")
TRIXIE_SRC_CONTENT = """\
# Added by the iot-pipeline devstack: SOURCE packages only (deb-src), so that TimescaleDB
# (not packaged for bookworm) can be built locally against PostgreSQL 15. No trixie binaries.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class InstallError(RuntimeError):
    pass


def _say(msg: str) -> None:
    print(f"[devstack] {msg}", flush=True)


def _run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        out = (result.stdout + result.stderr).strip().splitlines()[-40:]
        raise InstallError(
            f"command failed ({result.returncode}): {' '.join(argv)}\n" + "\n".join(out)
        )


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout.strip() == "installed"


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def apt_install(packages: list[str]) -> None:
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise InstallError(
            f"missing Debian packages {missing}; install them with "
            f"'sudo apt-get install -y {' '.join(missing)}' (devstack installs only as root)"
        )
    _say(f"installing Debian packages: {' '.join(missing)}")
    # Debian's maintainer scripts must not start distro daemons (postgresql, mosquitto,
    # prometheus) on the stack's ports: policy-rc.d exit 101 forbids it during the install.
    own_policy = not POLICY_RC_D.exists()
    if own_policy:
        POLICY_RC_D.write_text("#!/bin/sh\n# devstack: no daemon starts during install\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        env = _apt_env()
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        try:
            _run(install, env=env)
        except InstallError:
            _run(["apt-get", "update", "-q"], env=env)
            _run(install, env=env)
    finally:
        if own_policy:
            POLICY_RC_D.unlink(missing_ok=True)


def ensure_java_tools() -> None:
    missing = [pkg for tool, pkg in JAVA_PACKAGES.items() if shutil.which(tool) is None]
    if missing:
        apt_install(missing)


def timescaledb_installed() -> bool:
    libdir = Path(f"/usr/lib/postgresql/{PG_MAJOR}/lib")
    control = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/timescaledb.control")
    return control.exists() and any(libdir.glob("timescaledb-*.so"))


def _timescaledb_source_version() -> str:
    """The exact Debian version of the pinned upstream release (e.g. 2.19.3+dfsg-1+deb13u1)."""
    shown = subprocess.run(
        ["apt-cache", "showsrc", "timescaledb"], capture_output=True, text=True
    ).stdout
    versions = [
        line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("Version:")
    ]
    versions = [v for v in versions if v.startswith(f"{TIMESCALEDB_SOURCE_VERSION}+")]
    if not versions:
        raise InstallError(
            f"no timescaledb {TIMESCALEDB_SOURCE_VERSION} source package in the apt lists "
            f"(see {TRIXIE_SRC_LIST})"
        )
    newest = versions[0]
    for candidate in versions[1:]:
        newer = subprocess.run(["dpkg", "--compare-versions", candidate, "gt", newest])
        if newer.returncode == 0:
            newest = candidate
    return newest


def ensure_timescaledb(cfg: StackConfig) -> None:
    """Build and install TimescaleDB (Apache-2 edition) from Debian trixie's source package."""
    if timescaledb_installed():
        return
    if os.geteuid() != 0:
        raise InstallError(
            "TimescaleDB is not installed for PostgreSQL 15 and devstack is not root"
        )
    apt_install(TIMESCALEDB_BUILD_PACKAGES)
    src_root = cfg.cache_dir / "src"
    src_root.mkdir(parents=True, exist_ok=True)
    srcdirs = sorted(src_root.glob(f"timescaledb-{TIMESCALEDB_SOURCE_VERSION}*"))
    srcdirs = [d for d in srcdirs if d.is_dir()]
    if not srcdirs:
        current = TRIXIE_SRC_LIST.read_text() if TRIXIE_SRC_LIST.exists() else ""
        if current != TRIXIE_SRC_CONTENT:
            TRIXIE_SRC_LIST.write_text(TRIXIE_SRC_CONTENT)
        _say("fetching the timescaledb source package (Debian trixie, deb-src)")
        # Refresh only the trixie source index; the machine's other lists stay as they are.
        _run(
            [
                "apt-get",
                "update",
                "-q",
                f"-oDir::Etc::sourcelist={TRIXIE_SRC_LIST}",
                "-oDir::Etc::sourceparts=-",
                "-oAPT::Get::List-Cleanup=0",
            ],
            env=_apt_env(),
        )
        version = _timescaledb_source_version()
        _run(["apt-get", "source", "-q", f"timescaledb={version}"], cwd=src_root)
        srcdirs = [
            d
            for d in sorted(src_root.glob(f"timescaledb-{TIMESCALEDB_SOURCE_VERSION}*"))
            if d.is_dir()
        ]
        if not srcdirs:
            raise InstallError(f"apt-get source timescaledb left no source tree in {src_root}")
    src = srcdirs[-1]
    _say(f"building TimescaleDB from {src} (about half a minute)")
    build = src / "build"
    if build.exists():
        shutil.rmtree(build)
    _run(
        [
            "./bootstrap",
            "-DAPACHE_ONLY=1",
            "-DREGRESS_CHECKS=OFF",
            "-DTAP_CHECKS=OFF",
            "-DWARNINGS_AS_ERRORS=OFF",
            f"-DPG_CONFIG=/usr/lib/postgresql/{PG_MAJOR}/bin/pg_config",
        ],
        cwd=src,
    )
    _run(["make", "-C", "build", f"-j{os.cpu_count() or 2}"], cwd=src)
    _run(["make", "-C", "build", "install"], cwd=src)
    if not timescaledb_installed():
        raise InstallError("TimescaleDB build finished but the extension is not installed")


def java_artifacts_present(cfg: StackConfig) -> bool:
    return (
        (cfg.kafka_home / "libs" / f"kafka_2.13-{cfg.kafka_version}.jar").exists()
        and (cfg.kafka_home / "libs" / f"kafka-tools-{cfg.kafka_version}.jar").exists()
        and any(cfg.apicurio_home.glob("*-runner.jar"))
        and cfg.jmx_exporter_jar.exists()
    )


def maven_local_repository() -> Path:
    """Maven's own cache (devstack names it explicitly, so it knows where a download lands)."""
    return Path.home() / ".m2" / "repository"


def apicurio_zip_path(repo: Path, version: str) -> Path:
    """Where ``dependency:get`` puts io.apicurio:apicurio-registry-app:<version>:zip:all."""
    return (
        repo
        / "io"
        / "apicurio"
        / "apicurio-registry-app"
        / version
        / f"apicurio-registry-app-{version}-all.zip"
    )


def unpack_apicurio(archive: Path, dest: Path) -> None:
    """Unpack the 'all' assembly (runner jar, lib/, meta/) into ``dest``; a half-unpacked tree
    from an interrupted run is replaced, never used."""
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    if not any(tmp.glob("*-runner.jar")):
        shutil.rmtree(tmp)
        raise InstallError(f"{archive} holds no *-runner.jar")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def ensure_java_artifacts(cfg: StackConfig) -> None:
    if java_artifacts_present(cfg):
        return
    ensure_java_tools()
    _say(
        f"resolving Kafka {cfg.kafka_version}, Apicurio Registry {cfg.apicurio_version} and the "
        f"JMX exporter from Maven Central into {cfg.cache_dir}"
    )
    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    repo = maven_local_repository()
    mvn = ["mvn", "-B", "-q", f"-Dmaven.repo.local={repo}", "-f", str(POM)]
    _run(
        [
            *mvn,
            f"-Dstack.dir={cfg.cache_dir}",
            "dependency:copy-dependencies@kafka-libs",
            "dependency:copy@jmx-agent",
        ]
    )
    if not any(cfg.apicurio_home.glob("*-runner.jar")):
        # Apicurio 3's parent pom is not on Maven Central, so copy/unpack (which read the
        # artifact's pom) fail; see DEPENDENCY_GET_PLUGIN.
        _run(
            [
                *mvn,
                f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_GET_PLUGIN}:get",
                "-Dtransitive=false",
                f"-Dartifact=io.apicurio:apicurio-registry-app:{cfg.apicurio_version}:zip:all",
            ]
        )
        unpack_apicurio(apicurio_zip_path(repo, cfg.apicurio_version), cfg.apicurio_home)
    if not java_artifacts_present(cfg):
        raise InstallError(
            f"Maven finished but the Java artifacts are incomplete in {cfg.cache_dir}"
        )


def ensure_installed(cfg: StackConfig) -> None:
    apt_install(RUNTIME_PACKAGES)
    ensure_timescaledb(cfg)
    ensure_java_artifacts(cfg)
