import signal
import subprocess
import time

from devstack import proc
from devstack.config import StackConfig
from devstack.services import (
    MOSQUITTO_CONF,
    Postgres,
    all_services,
    class_data_sharing,
    kafka_server_properties,
    mosquitto_native_conf,
)


def props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def cfg(tmp_path) -> StackConfig:
    return StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})


def test_each_broker_is_a_combined_kraft_node_on_loopback(tmp_path):
    config = cfg(tmp_path)
    nodes = zip((1, 2, 3), config.kafka_ports, config.kafka_controller_ports, strict=True)
    for node_id, port, cport in nodes:
        p = props(kafka_server_properties(config, node_id, tmp_path / f"d{node_id}"))
        assert p["process.roles"] == "broker,controller"
        assert p["node.id"] == str(node_id)
        assert p["controller.quorum.voters"] == (
            "1@127.0.0.1:29192,2@127.0.0.1:29193,3@127.0.0.1:29194"
        )
        assert p["listeners"] == f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}"
        assert p["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{port}"
        assert p["log.dirs"] == str(tmp_path / f"d{node_id}")


def test_brokers_default_to_durable_production_like_settings(tmp_path):
    p = props(kafka_server_properties(cfg(tmp_path), 1, tmp_path))
    assert p["default.replication.factor"] == "3"
    assert p["min.insync.replicas"] == "2"
    assert p["offsets.topic.replication.factor"] == "3"
    assert p["transaction.state.log.replication.factor"] == "3"
    assert p["transaction.state.log.min.isr"] == "2"
    assert p["auto.create.topics.enable"] == "false"
    assert p["unclean.leader.election.enable"] == "false"
    assert p["group.initial.rebalance.delay.ms"] == "0"


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
