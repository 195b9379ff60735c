import signal
import subprocess
import time

import pytest

from devstack import proc
from devstack.config import StackConfig
from devstack.java import (
    REGISTRY_MIN_JAVA,
    choose_java,
    class_data_sharing,
    java_candidates,
    java_major_version,
    registry_java_bin,
)
from devstack.kafka_services import Registry, kafka_server_properties, registry_storage_properties
from devstack.mosquitto import MOSQUITTO_CONF, mosquitto_native_conf
from devstack.postgres import Postgres, database_and_role_sql
from devstack.service_base import SetupError
from devstack.services import all_services


def props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def cfg(tmp_path) -> StackConfig:
    return StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})


def test_each_broker_is_a_combined_kraft_node_on_loopback(tmp_path):
    config = cfg(tmp_path)
    nodes = zip((1, 2, 3), config.kafka_ports, config.kafka_controller_ports, strict=True)
    for node_id, port, cport in nodes:
        keystore = tmp_path / "ks.pem"
        p = props(kafka_server_properties(config, node_id, tmp_path / f"d{node_id}", keystore))
        assert p["process.roles"] == "broker,controller"
        assert p["node.id"] == str(node_id)
        assert p["controller.quorum.voters"] == (
            "1@127.0.0.1:29192,2@127.0.0.1:29193,3@127.0.0.1:29194"
        )
        sport = config.kafka_secure_ports[node_id - 1]
        assert p["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport},"
            f"SASL_SSL://127.0.0.1:{sport}"
        )
        assert p["advertised.listeners"] == (
            f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sport}"
        )
        assert p["ssl.keystore.location"] == str(keystore)
        assert p["log.dirs"] == str(tmp_path / f"d{node_id}")


def test_brokers_default_to_durable_production_like_settings(tmp_path):
    p = props(kafka_server_properties(cfg(tmp_path), 1, tmp_path, tmp_path / "ks.pem"))
    assert p["default.replication.factor"] == "3"
    assert p["min.insync.replicas"] == "2"
    assert p["offsets.topic.replication.factor"] == "3"
    assert p["transaction.state.log.replication.factor"] == "3"
    assert p["transaction.state.log.min.isr"] == "2"
    assert p["auto.create.topics.enable"] == "false"
    assert p["unclean.leader.election.enable"] == "false"
    assert p["group.initial.rebalance.delay.ms"] == "0"


def test_brokers_authorize_every_request_and_log_in_with_scram(tmp_path):
    config = StackConfig.from_env(
        {"IOT_STACK_STATE_DIR": str(tmp_path), "IOT_STACK_PORT_OFFSET": "20000"}
    )
    p = props(kafka_server_properties(config, 2, tmp_path, tmp_path / "ks.pem"))
    assert p["authorizer.class.name"].endswith("StandardAuthorizer")
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["super.users"] == "User:ANONYMOUS"
    assert p["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["ssl.keystore.type"] == "PEM"
    assert "SASL_SSL://127.0.0.1:49393" in p["listeners"]
    assert "PLAINTEXT://127.0.0.1:49093" in p["listeners"]
    assert config.kafka_secure_bootstrap == "127.0.0.1:49392,127.0.0.1:49393,127.0.0.1:49394"


def test_mosquitto_conf_binds_listeners_to_loopback_and_moves_paths(tmp_path):
    project = "\n".join(
        [
            "listener 1883",
            "listener 9001 0.0.0.0",
            "protocol websockets",
            "persistence true",
            "persistence_location /mosquitto/data/",
            "log_dest file /mosquitto/log/mosquitto.log",
            "log_dest stdout",
            "allow_anonymous true",
        ]
    )
    native = mosquitto_native_conf(project, 11883, tmp_path)
    lines = [line for line in native.splitlines() if not line.startswith("#")]
    assert lines == [
        "listener 11883 127.0.0.1",
        "listener 9001 127.0.0.1",
        "protocol websockets",
        "persistence true",
        f"persistence_location {tmp_path}/",
        "log_dest stderr",
        "log_dest stderr",
        "allow_anonymous true",
    ]


def test_mosquitto_conf_without_listener_gets_one_on_loopback(tmp_path):
    native = mosquitto_native_conf("allow_anonymous true\n", 1883, tmp_path)
    assert native.splitlines()[-1] == "listener 1883 127.0.0.1"


def test_the_projects_mosquitto_conf_runs_natively_without_container_paths(tmp_path):
    native = mosquitto_native_conf(MOSQUITTO_CONF.read_text(), 1883, tmp_path)
    body = [line for line in native.splitlines() if line and not line.startswith("#")]
    assert "listener 1883 127.0.0.1" in body
    assert not any("/mosquitto/" in line for line in body)


def test_services_have_unique_names_and_ports(tmp_path):
    services = all_services(cfg(tmp_path))
    names = [s.name for s in services]
    ports = [port for s in services for port in s.ports]
    assert names == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "registry",
        "mqtt",
        "postgres",
        "prometheus",
        "alertmanager",
        "node-exporter",
        "postgres-exporter",
        "mosquitto-exporter",
        "lag-exporter",
        "smtp-sink",
    ]
    assert len(ports) == len(set(ports))


def test_postgres_preloads_timescaledb_and_listens_on_loopback_only(tmp_path):
    config = cfg(tmp_path)
    postgres = next(s for s in all_services(config) if isinstance(s, Postgres))
    argv = postgres.argv(config)
    assert "shared_preload_libraries=timescaledb" in argv
    assert "listen_addresses=127.0.0.1" in argv
    assert f"port={config.postgres_port}" in argv
    assert postgres.stop_signal == signal.SIGINT


def test_a_stale_postmaster_lock_is_removed_but_a_live_postgres_lock_is_kept(tmp_path):
    lock = tmp_path / "postmaster.pid"
    other = subprocess.Popen(["sleep", "30"])
    live = subprocess.Popen(["postgres", "30"], executable="/bin/sleep")
    # Until the children have exec'd, /proc shows pytest's own command line: wait for sleep's.
    for child, name in ((other, "sleep"), (live, "postgres")):
        deadline = time.monotonic() + 5
        while not proc.process_cmdline(child.pid).startswith(name):
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.01)
    try:
        for pid in (other.pid, 2**22 + 4321):  # a live stranger, a pid nobody has
            lock.write_text(f"{pid}\n{tmp_path}\n")
            Postgres._remove_stale_lock(tmp_path)
            assert not lock.exists()
        lock.write_text(f"{live.pid}\n{tmp_path}\n")
        Postgres._remove_stale_lock(tmp_path)
        assert lock.exists()
    finally:
        for p in (other, live):
            p.kill()
            p.wait()


def test_class_data_sharing_writes_the_archive_first_and_uses_it_after(tmp_path):
    archive = tmp_path / "app.jsa"
    assert class_data_sharing(archive) == [f"-XX:ArchiveClassesAtExit={archive}"]
    archive.write_bytes(b"")
    assert class_data_sharing(archive) == [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]


# ---------------------------------------------------------------------- registry and its Java


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "25.0.3" 2026-04-21 LTS\nOpenJDK Runtime Environment Temurin', 25),
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17)', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"\nJava(TM) SE Runtime Environment', 8),
        ('Picked up JAVA_TOOL_OPTIONS: -Xss1m\nopenjdk version "22-ea" 2024-03-19', 22),
        ("Error: could not find libjava.so", None),
        ("", None),
    ],
)
def test_java_major_version_reads_the_version_line(output, major):
    assert java_major_version(output) == major


def test_choose_java_takes_the_first_new_enough_candidate():
    found = [("/a/java", 17), ("/b/java", None), ("/c/java", 25), ("/d/java", 21)]
    assert choose_java(found, 21) == "/c/java"
    assert choose_java([("/d/java", 21)], 21) == "/d/java"


def test_choose_java_names_what_it_found_and_what_is_missing():
    with pytest.raises(SetupError) as raised:
        choose_java([("/usr/lib/jvm/java-17/bin/java", 17), ("/x/java", None)], 21)
    message = str(raised.value)
    assert "Java 21 or newer" in message
    assert "/usr/lib/jvm/java-17/bin/java (17)" in message
    assert "/x/java (unknown version)" in message
    assert "REGISTRY_JAVA_HOME" in message
    with pytest.raises(SetupError, match="no java at all"):
        choose_java([], 21)


def fake_jdk(root, name: str, version: str):
    """A directory laid out like a JDK whose bin/java prints ``version`` as java -version does."""
    java = root / name / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-01-01' >&2\n")
    java.chmod(0o755)
    return java


def test_java_candidates_prefer_the_environment_then_path_then_the_newest_jvm_dir(tmp_path):
    jvm = tmp_path / "jvm"
    old = fake_jdk(jvm, "java-17-openjdk-amd64", "17.0.15")
    new = fake_jdk(jvm, "temurin-25-jdk-amd64", "25.0.3")
    (jvm / "java-1.17.0-openjdk-amd64").symlink_to(jvm / "java-17-openjdk-amd64")
    env = {"JAVA_HOME": str(jvm / "java-17-openjdk-amd64"), "PATH": str(tmp_path / "nothing")}
    assert java_candidates(env, jvm) == [str(old), str(new)]
    env["REGISTRY_JAVA_HOME"] = str(jvm / "temurin-25-jdk-amd64")
    assert java_candidates(env, jvm) == [str(new), str(old)]
    assert java_candidates({"PATH": str(old.parent)}, tmp_path / "no-jvm-dir") == [str(old)]


def test_registry_java_honours_registry_java_home_and_refuses_an_old_one(tmp_path):
    new = fake_jdk(tmp_path, "jdk25", "25.0.3")
    fake_jdk(tmp_path, "jdk17", "17.0.15")
    config = StackConfig.from_env({"REGISTRY_JAVA_HOME": str(tmp_path / "jdk25"), "PATH": ""})
    assert registry_java_bin(config) == str(new)
    config = StackConfig.from_env({"REGISTRY_JAVA_HOME": str(tmp_path / "jdk17"), "PATH": ""})
    with pytest.raises(
        SetupError, match=rf"Java {REGISTRY_MIN_JAVA} or newer.*jdk17/bin/java \(17\)"
    ):
        registry_java_bin(config)


def test_registry_keeps_its_schemas_in_the_stacks_postgresql(tmp_path):
    config = StackConfig.from_env(
        {"IOT_STACK_STATE_DIR": str(tmp_path), "POSTGRES_PORT": "6543"}
    ).with_secrets()
    props = registry_storage_properties(config)
    assert "-Dapicurio.storage.kind=sql" in props
    assert "-Dapicurio.storage.sql.kind=postgresql" in props
    assert "-Dapicurio.datasource.url=jdbc:postgresql://127.0.0.1:6543/apicurio_registry" in props
    assert "-Dapicurio.datasource.username=apicurio_registry" in props
    # The password travels in the environment, not on the command line.
    assert not any(config.registry_db_password in p for p in props)
    registry = next(s for s in all_services(config) if isinstance(s, Registry))
    assert registry.env(config)["APICURIO_DATASOURCE_PASSWORD"] == config.registry_db_password


def test_only_the_registry_waits_for_postgresql(tmp_path):
    services = all_services(cfg(tmp_path))
    assert [s.name for s in services if s.after_postgres] == ["registry"]


def test_database_and_role_sql_is_idempotent_and_quotes_the_password():
    sql = database_and_role_sql("apicurio_registry", "apicurio_registry", "it's")
    assert "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'apicurio_registry')" in sql
    assert "CREATE ROLE apicurio_registry LOGIN PASSWORD 'it''s';" in sql
    assert "ALTER ROLE apicurio_registry WITH LOGIN PASSWORD 'it''s';" in sql
    assert "CREATE DATABASE apicurio_registry OWNER apicurio_registry" in sql
    assert "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'apicurio_registry')" in sql
    assert sql.rstrip().endswith("\\gexec")


@pytest.mark.parametrize(("database", "user"), [("Bad", "u"), ("d", "x; DROP"), ("", "u")])
def test_database_and_role_sql_rejects_names_that_are_not_plain_identifiers(database, user):
    with pytest.raises(SetupError, match="plain lower-case identifiers"):
        database_and_role_sql(database, user, "pw")


def test_the_brokers_keystore_is_made_from_the_stack_ca_with_a_pkcs8_key(tmp_path):
    from devstack.tls import ensure_kafka_keystore, tls_dir

    keystore = ensure_kafka_keystore(tmp_path)
    text = keystore.read_text()
    # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain.
    assert text.startswith("-----BEGIN " + "PRIVATE KEY-----")  # (split: no key in the source)
    assert text.count("-----BEGIN CERTIFICATE-----") == 2
    assert keystore.stat().st_mode & 0o777 == 0o600
    ca = tls_dir(tmp_path) / "ca.pem"
    cert = tls_dir(tmp_path) / "kafka.pem"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    san = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
    )
    assert "IP Address:127.0.0.1" in san.stdout and "DNS:localhost" in san.stdout
    assert ensure_kafka_keystore(tmp_path).read_text() == text  # made once


def test_a_state_dir_from_before_kafka_tls_keeps_its_ca_and_gets_the_keystore(tmp_path):
    from devstack.tls import ensure_ca, ensure_kafka_keystore, tls_dir

    ensure_ca(tmp_path)  # what an older `make up` made: CA and Mosquitto's certificate only
    ca_before = (tls_dir(tmp_path) / "ca.pem").read_text()
    keystore = ensure_kafka_keystore(tmp_path)
    assert (tls_dir(tmp_path) / "ca.pem").read_text() == ca_before
    assert keystore.read_text().endswith(ca_before)
