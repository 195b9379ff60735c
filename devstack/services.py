"""The stack's services: how each is configured, started and stopped (standard library only).

Health probes live in ``devstack.probes`` (they use the virtual environment's client libraries).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack import proc
from devstack.config import REPO_ROOT, StackConfig

MOSQUITTO_CONF = REPO_ROOT / "mqtt" / "config" / "mosquitto.conf"
PROMETHEUS_CONF = REPO_ROOT / "monitoring" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONF = REPO_ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
# If the monitoring area provides a JMX exporter config, brokers serve JMX metrics on 7071-7073.
KAFKA_JMX_EXPORTER_CONF = REPO_ROOT / "monitoring" / "jmx" / "kafka.yml"
KAFKA_JMX_EXPORTER_PORTS = (7071, 7072, 7073)
DEFAULT_MQTT_PORT = 1883


class SetupError(RuntimeError):
    pass


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


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@dataclass(eq=False)
class Service:
    name: str
    ports: tuple[int, ...]
    endpoint: str
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0
    # The Debian package's own service of the same server, named when it holds our port.
    distro_service: str | None = None
    # Started only once PostgreSQL is bootstrapped and healthy (it keeps its data there).
    after_postgres: bool = False

    def pidfile(self, cfg: StackConfig) -> Path:
        return cfg.run_dir / f"{self.name}.pid"

    def logfile(self, cfg: StackConfig) -> Path:
        return cfg.logs_dir / f"{self.name}.log"

    def run_user(self, cfg: StackConfig) -> str | None:
        return None

    def prepare(self, cfg: StackConfig) -> None:
        """Write config files and initialise data directories (idempotent)."""

    def argv(self, cfg: StackConfig) -> list[str]:
        raise NotImplementedError

    def env(self, cfg: StackConfig) -> dict[str, str]:
        return dict(cfg.env)

    def cwd(self, cfg: StackConfig) -> Path:
        return cfg.state_dir


# ----------------------------------------------------------------------------------------- Kafka
KAFKA_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
"""


def kafka_server_properties(cfg: StackConfig, node_id: int, data_dir: Path) -> str:
    i = node_id - 1
    voters = ",".join(
        f"{n + 1}@127.0.0.1:{port}" for n, port in enumerate(cfg.kafka_controller_ports)
    )
    port, cport = cfg.kafka_ports[i], cfg.kafka_controller_ports[i]
    return f"""\
# Generated by devstack on every start; edit devstack/services.py instead.
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
# Production-like durability defaults.
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
log.retention.hours=168
# Dev/test conveniences: consumer groups form at once; modest threads for a 2-core machine.
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.segment.bytes=268435456
"""


@dataclass(eq=False)
class KafkaBroker(Service):
    node_id: int = 1

    def base(self, cfg: StackConfig) -> Path:
        return cfg.state_dir / "kafka" / f"broker-{self.node_id}"

    def prepare(self, cfg: StackConfig) -> None:
        base = self.base(cfg)
        data = base / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = base / "server.properties"
        _write_if_changed(props, kafka_server_properties(cfg, self.node_id, data))
        _write_if_changed(cfg.state_dir / "kafka" / "log4j.properties", KAFKA_LOG4J)
        if not (data / "meta.properties").exists():
            # Format on first start only.
            result = subprocess.run(
                [
                    java_bin(cfg),
                    "-Xmx256m",
                    f"-Dlog4j.configuration=file:{cfg.state_dir / 'kafka' / 'log4j.properties'}",
                    "-cp",
                    str(cfg.kafka_home / "libs" / "*"),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cfg.kafka_cluster_id,
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise SetupError(
                    f"{self.name}: formatting storage failed:\n{result.stdout}{result.stderr}"
                )

    def argv(self, cfg: StackConfig) -> list[str]:
        base = self.base(cfg)
        argv = [
            java_bin(cfg),
            "-server",
            *cfg.kafka_heap_opts.split(),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{cfg.state_dir / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={base / 'logs'}",
        ]
        if KAFKA_JMX_EXPORTER_CONF.exists() and cfg.jmx_exporter_jar.exists():
            jmx_port = KAFKA_JMX_EXPORTER_PORTS[self.node_id - 1]
            argv.append(
                f"-javaagent:{cfg.jmx_exporter_jar}=127.0.0.1:{jmx_port}:{KAFKA_JMX_EXPORTER_CONF}"
            )
        argv += [
            "-cp",
            str(cfg.kafka_home / "libs" / "*"),
            "kafka.Kafka",
            str(base / "server.properties"),
        ]
        return argv


# -------------------------------------------------------------------------------- Apicurio Registry
def registry_storage_properties(cfg: StackConfig) -> list[str]:
    """Apicurio 3's SQL storage on the stack's PostgreSQL (database and role made by
    ``Postgres.bootstrap``); Apicurio creates and upgrades its own tables on start."""
    return [
        "-Dapicurio.storage.kind=sql",
        "-Dapicurio.storage.sql.kind=postgresql",
        f"-Dapicurio.datasource.url={cfg.registry_jdbc_url}",
        f"-Dapicurio.datasource.username={cfg.registry_db_user}",
        # (The password comes from the environment, APICURIO_DATASOURCE_PASSWORD: not in ps.)
        # The default pool opens 20 connections at start; a dev registry needs a few.
        "-Dapicurio.datasource.jdbc.initial-size=2",
        "-Dapicurio.datasource.jdbc.min-size=2",
        "-Dapicurio.datasource.jdbc.max-size=20",
    ]


@dataclass(eq=False)
class Registry(Service):
    # Its storage is in PostgreSQL: ``up`` starts it once PostgreSQL is bootstrapped and healthy.
    after_postgres: bool = True

    def prepare(self, cfg: StackConfig) -> None:
        (cfg.state_dir / "registry").mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _archive_name(cfg: StackConfig, java: str) -> str:
        """A class archive fits one JVM build only: name it after the java binary and its mtime."""
        real = Path(os.path.realpath(java))
        key = hashlib.sha256(f"{real}:{real.stat().st_mtime_ns}".encode()).hexdigest()[:12]
        return f"apicurio-{cfg.apicurio_version}-{key}.jsa"

    def argv(self, cfg: StackConfig) -> list[str]:
        runner = sorted(cfg.apicurio_home.glob("*-runner.jar"))
        if not runner:
            raise SetupError(f"registry: no Apicurio runner jar in {cfg.apicurio_home}")
        java = registry_java_bin(cfg)
        return [
            java,
            *cfg.registry_heap_opts.split(),
            "-XX:+UseSerialGC",
            # A schema registry's load is light (clients cache schemas): C1 only starts faster.
            "-XX:TieredStopAtLevel=1",
            # (No -javaagent here: the JVM refuses to write a CDS archive with an agent loaded.)
            *class_data_sharing(cfg.state_dir / "registry" / self._archive_name(cfg, java)),
            "-XX:+ExitOnOutOfMemoryError",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={cfg.registry_port}",
            *registry_storage_properties(cfg),
            "-Dquarkus.log.console.json=false",
            "-Dquarkus.http.access-log.enabled=false",
            "-jar",
            str(runner[-1]),
        ]

    def env(self, cfg: StackConfig) -> dict[str, str]:
        return {**cfg.env, "APICURIO_DATASOURCE_PASSWORD": cfg.registry_db_password}

    def cwd(self, cfg: StackConfig) -> Path:
        return cfg.apicurio_home


# -------------------------------------------------------------------------------------- Mosquitto
def mosquitto_native_conf(project_conf: str, port: int, data_dir: Path) -> str:
    """The project's mosquitto.conf (the file docker compose mounts) adapted for a native run:
    listeners bound to loopback on ``port`` and persistence under the stack's state directory."""
    out = [
        f"# Generated by devstack from {MOSQUITTO_CONF.relative_to(REPO_ROOT)}: listeners bound to",
        "# 127.0.0.1, paths moved under the stack's state directory; everything else as written.",
    ]
    saw_listener = False
    for line in project_conf.splitlines():
        words = line.split()
        key = words[0] if words else ""
        if key == "listener" and len(words) >= 2:
            # The MQTT listener (1883 in the file) moves to ``port``; others keep theirs. All bind
            # to loopback only.
            saw_listener = True
            listen_port = port if words[1] == str(DEFAULT_MQTT_PORT) else int(words[1])
            out.append(f"listener {listen_port} 127.0.0.1")
        elif key == "persistence_location":
            out.append(f"persistence_location {data_dir}/")
        elif key == "log_dest" and len(words) > 1 and words[1] in ("file", "stdout"):
            # stderr is unbuffered when not a terminal, so the log file is always current.
            out.append("log_dest stderr")
        elif key in ("pid_file", "user"):
            out.append(f"# (devstack) {line}")
        else:
            out.append(line)
    if not saw_listener:
        out.append(f"listener {port} 127.0.0.1")
    return "\n".join(out) + "\n"


@dataclass(eq=False)
class Mosquitto(Service):
    def prepare(self, cfg: StackConfig) -> None:
        base = cfg.state_dir / "mosquitto"
        data = base / "data"
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the 'mosquitto' user: it must own its data dir.
            try:
                pw = pwd.getpwnam("mosquitto")
                os.chown(data, pw.pw_uid, pw.pw_gid)
            except KeyError:
                pass
        if not MOSQUITTO_CONF.exists():
            raise SetupError(f"mqtt: {MOSQUITTO_CONF} is missing")
        _write_if_changed(
            base / "mosquitto.conf",
            mosquitto_native_conf(MOSQUITTO_CONF.read_text(), cfg.mqtt_port, data),
        )

    def argv(self, cfg: StackConfig) -> list[str]:
        return ["/usr/sbin/mosquitto", "-c", str(cfg.state_dir / "mosquitto" / "mosquitto.conf")]


# ------------------------------------------------------------------------ PostgreSQL + TimescaleDB
def pg_user() -> str:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' system user."""
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def database_and_role_sql(database: str, user: str, password: str) -> str:
    """SQL (for psql) that makes a login role with this password and a database it owns, or
    brings an existing role's password up to date; running it again changes nothing."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database) or not re.fullmatch(
        r"[a-z_][a-z0-9_]*", user
    ):
        raise SetupError(
            f"postgres: database and role names must be plain lower-case identifiers "
            f"(got {database!r}, {user!r})"
        )
    quoted = password.replace("'", "''")
    return f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN
    CREATE ROLE {user} LOGIN PASSWORD '{quoted}';
  ELSE
    ALTER ROLE {user} WITH LOGIN PASSWORD '{quoted}';
  END IF;
END $$;
SELECT 'CREATE DATABASE {database} OWNER {user}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')\\gexec
"""


@dataclass(eq=False)
class Postgres(Service):
    def data_dir(self, cfg: StackConfig) -> Path:
        return cfg.state_dir / "postgresql" / "data"

    def run_user(self, cfg: StackConfig) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def prepare(self, cfg: StackConfig) -> None:
        base = cfg.state_dir / "postgresql"
        data = self.data_dir(cfg)
        sock = cfg.pg_socket_dir
        for d in (cfg.state_dir, base):
            d.mkdir(parents=True, exist_ok=True)
        # The postgres user must be able to reach its directories (not read anything else).
        cfg.state_dir.chmod(0o755)
        base.chmod(0o755)
        sock.mkdir(exist_ok=True)
        sock.chmod(0o700)
        self._chown(sock)
        if (data / "PG_VERSION").exists():
            self._remove_stale_lock(data)
            return
        if data.exists():
            shutil.rmtree(data)  # a half-made cluster from an interrupted first start
        data.mkdir(mode=0o700)
        self._chown(data)
        result = subprocess.run(
            [
                str(cfg.pg_bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                # Local (socket) access is for devstack's own setup; the socket dir is mode 0700.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            capture_output=True,
            text=True,
            user=self.run_user(cfg),
            group=self.run_user(cfg),
            extra_groups=[] if self.run_user(cfg) else None,
            cwd="/",
        )
        if result.returncode != 0:
            raise SetupError(f"postgres: initdb failed:\n{result.stdout}{result.stderr}")

    @staticmethod
    def _remove_stale_lock(data: Path) -> None:
        """After a hard stop (machine or session ended) postmaster.pid stays behind; PostgreSQL
        refuses to start if its pid now belongs to some other live process. devstack only calls
        this when its own pid file says PostgreSQL is not running."""
        lock = data / "postmaster.pid"
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if "postgres" not in proc.process_cmdline(pid) or proc.process_start_time(pid) is None:
            lock.unlink(missing_ok=True)

    def argv(self, cfg: StackConfig) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(cfg.postgres_port),
            "unix_socket_directories": str(cfg.pg_socket_dir),
            "shared_preload_libraries": "timescaledb",
            "timescaledb.telemetry_level": "off",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "password_encryption": "scram-sha-256",
            "log_min_messages": "warning",
            "log_line_prefix": "%m [%p] %q%u@%d ",
        }
        argv = [str(cfg.pg_bindir / "postgres"), "-D", str(self.data_dir(cfg))]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def cwd(self, cfg: StackConfig) -> Path:
        return Path("/")

    def psql(self, cfg: StackConfig, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the private socket (standard library only)."""
        result = subprocess.run(
            [
                str(cfg.pg_bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(cfg.pg_socket_dir),
                "-p",
                str(cfg.postgres_port),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            user=self.run_user(cfg),
            group=self.run_user(cfg),
            extra_groups=[] if self.run_user(cfg) else None,
            cwd="/",
        )
        if result.returncode != 0:
            raise SetupError(f"postgres: SQL failed: {result.stderr.strip()}")
        return result.stdout

    def bootstrap(self, cfg: StackConfig) -> None:
        """Create the application's role and database with the timescaledb extension, and the
        registry's own role and database (idempotent; passwords follow the settings)."""
        self.psql(
            cfg, database_and_role_sql(cfg.postgres_db, cfg.postgres_user, cfg.postgres_password)
        )
        self.psql(cfg, "CREATE EXTENSION IF NOT EXISTS timescaledb;\n", database=cfg.postgres_db)
        self.psql(
            cfg,
            database_and_role_sql(cfg.registry_db, cfg.registry_db_user, cfg.registry_db_password),
        )


# ------------------------------------------------------------------------ Prometheus, Alertmanager
@dataclass(eq=False)
class Prometheus(Service):
    def prepare(self, cfg: StackConfig) -> None:
        if not PROMETHEUS_CONF.exists():
            raise SetupError(f"prometheus: {PROMETHEUS_CONF} is missing")
        (cfg.state_dir / "prometheus").mkdir(parents=True, exist_ok=True)

    def argv(self, cfg: StackConfig) -> list[str]:
        return [
            "/usr/bin/prometheus",
            f"--config.file={PROMETHEUS_CONF}",
            f"--storage.tsdb.path={cfg.state_dir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{cfg.prometheus_port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=7d",
        ]


@dataclass(eq=False)
class Alertmanager(Service):
    def prepare(self, cfg: StackConfig) -> None:
        if not ALERTMANAGER_CONF.exists():
            raise SetupError(f"alertmanager: {ALERTMANAGER_CONF} is missing")
        (cfg.state_dir / "alertmanager").mkdir(parents=True, exist_ok=True)

    def argv(self, cfg: StackConfig) -> list[str]:
        return [
            "/usr/bin/prometheus-alertmanager",
            f"--config.file={ALERTMANAGER_CONF}",
            f"--storage.path={cfg.state_dir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{cfg.alertmanager_port}",
            "--cluster.listen-address=",
        ]


def all_services(cfg: StackConfig) -> list[Service]:
    brokers: list[Service] = [
        KafkaBroker(
            name=f"kafka-{n}",
            ports=(cfg.kafka_ports[n - 1], cfg.kafka_controller_ports[n - 1]),
            endpoint=f"127.0.0.1:{cfg.kafka_ports[n - 1]}",
            node_id=n,
            stop_timeout_s=40.0,
        )
        for n in (1, 2, 3)
    ]
    return [
        *brokers,
        Registry(name="registry", ports=(cfg.registry_port,), endpoint=cfg.registry_url),
        Mosquitto(
            name="mqtt",
            ports=(cfg.mqtt_port,),
            endpoint=f"mqtt://127.0.0.1:{cfg.mqtt_port}",
            distro_service="mosquitto",
        ),
        Postgres(
            name="postgres",
            ports=(cfg.postgres_port,),
            endpoint=f"postgresql://{cfg.postgres_user}@127.0.0.1:{cfg.postgres_port}/{cfg.postgres_db}",
            stop_signal=signal.SIGINT,  # PostgreSQL's "fast" shutdown
            stop_timeout_s=60.0,
            distro_service="postgresql",
        ),
        Prometheus(
            name="prometheus",
            ports=(cfg.prometheus_port,),
            endpoint=f"http://127.0.0.1:{cfg.prometheus_port}",
            distro_service="prometheus",
        ),
        Alertmanager(
            name="alertmanager",
            ports=(cfg.alertmanager_port,),
            endpoint=f"http://127.0.0.1:{cfg.alertmanager_port}",
            distro_service="prometheus-alertmanager",
        ),
        *_monitoring_services(cfg),
    ]


def _monitoring_services(cfg: StackConfig) -> list[Service]:
    """Exporters and the SMTP sink (devstack/monitoring.py, which imports this module)."""
    from devstack.monitoring import monitoring_services

    return monitoring_services(cfg)
