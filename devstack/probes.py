"""Real health probes, one per service (``up`` and ``status`` only; they use the virtual
environment's confluent_kafka, paho-mqtt and psycopg2, imported when a probe runs).

Each probe returns a short description of what it saw, or raises ``ProbeError`` saying what failed.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

from devstack.config import StackConfig
from devstack.proc import port_open


class ProbeError(RuntimeError):
    pass


def http_get(url: str, timeout_s: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ProbeError(f"GET {url}: {exc}") from exc


class KafkaProbe:
    """Cluster metadata, fetched once per probing round and shared by the three broker probes."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self._brokers: dict[int, str] | None = None
        self._error: str | None = None

    def brokers(self) -> dict[int, str]:
        if self._brokers is None and self._error is None:
            from confluent_kafka.admin import AdminClient

            quiet = logging.getLogger("devstack.librdkafka")
            quiet.addHandler(logging.NullHandler())
            quiet.propagate = False
            admin = AdminClient(
                {"bootstrap.servers": self.cfg.kafka_bootstrap, "socket.timeout.ms": 3000},
                logger=quiet,
            )
            try:
                md = admin.list_topics(timeout=5)
                self._brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
            except Exception as exc:  # KafkaException carries the librdkafka error
                self._error = str(exc)
        if self._error is not None:
            raise ProbeError(f"cluster metadata: {self._error}")
        assert self._brokers is not None
        return self._brokers

    def broker(self, node_id: int, require_all: bool = False) -> str:
        """Broker ``node_id`` is in the cluster metadata (and, with ``require_all``, so is every
        other broker of the stack: ``up`` waits for the full cluster)."""
        brokers = self.brokers()
        if node_id not in brokers:
            raise ProbeError(
                f"broker {node_id} not in cluster metadata (brokers seen: {sorted(brokers)})"
            )
        expected = len(self.cfg.kafka_ports)
        if require_all and len(brokers) != expected:
            raise ProbeError(f"cluster metadata lists {len(brokers)} of {expected} brokers")
        secured = self.cfg.kafka_secure_ports[node_id - 1]
        if not port_open(secured):
            raise ProbeError(
                f"no SASL_SSL listener on port {secured} (a broker started before it existed: "
                "'make up' restarts it)"
            )
        return f"in metadata as {brokers[node_id]}; cluster has {len(brokers)} brokers"


def registry(cfg: StackConfig) -> str:
    status, body = http_get(f"{cfg.registry_url}/subjects")
    if status != 200:
        raise ProbeError(f"GET /subjects answered HTTP {status}: {body[:200]!r}")
    subjects = json.loads(body)
    if not isinstance(subjects, list):
        raise ProbeError(f"GET /subjects returned {subjects!r}, not a list")
    return f"GET /subjects -> {len(subjects)} subjects"


def mqtt(cfg: StackConfig) -> str:
    """QoS 1 publish/subscribe round trip on a unique topic."""
    import paho.mqtt.client as paho

    topic = f"devstack/health/{uuid.uuid4().hex}"
    payload = uuid.uuid4().bytes
    subscribed = threading.Event()
    received = threading.Event()
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"devstack-{uuid.uuid4().hex[:8]}"
    )

    def on_connect(c: paho.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_args: object) -> None:
        subscribed.set()

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.payload == payload and msg.qos == 1:
            received.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    # The stack's own test identity: the broker refuses anonymous clients (devstack.mqtt_auth).
    client.username_pw_set("pipeline-tests", cfg.mqtt_password("pipeline-tests"))
    try:
        client.connect("127.0.0.1", cfg.mqtt_port, keepalive=10)
    except OSError as exc:
        raise ProbeError(f"connect 127.0.0.1:{cfg.mqtt_port}: {exc}") from exc
    client.loop_start()
    try:
        if not subscribed.wait(5):
            raise ProbeError("no SUBACK within 5 s")
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        if not received.wait(5):
            raise ProbeError("QoS 1 message not delivered back within 5 s")
    finally:
        client.loop_stop()
        client.disconnect()
    return "QoS 1 publish/subscribe round trip ok"


def postgres(cfg: StackConfig) -> str:
    import psycopg2

    try:
        conn = psycopg2.connect(cfg.postgres_dsn, connect_timeout=3)
    except psycopg2.Error as exc:
        raise ProbeError(f"connect as {cfg.postgres_user}: {str(exc).strip()}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        raise ProbeError(f"extension timescaledb not installed in database {cfg.postgres_db}")
    return f"timescaledb {row[0]} in {cfg.postgres_db}"


def ready_endpoint(port: int) -> Callable[[StackConfig], str]:
    def probe(_cfg: StackConfig) -> str:
        status, body = http_get(f"http://127.0.0.1:{port}/-/ready")
        if status != 200:
            raise ProbeError(f"/-/ready answered HTTP {status}: {body[:200]!r}")
        return "/-/ready 200"

    return probe
