"""The adapter's MQTT session: paho-mqtt 2.x driven by the caller's loop (no network thread).

MQTT 5, a persistent session (clean start off, a session expiry), QoS 1 with manual
acknowledgements, user/password and TLS from the settings, reconnection with backoff. One call
of :meth:`MqttSession.service` is one round of I/O: select() on the socket, then loop_read()
(each message handed on as it is read), loop_write() (acknowledgements) and loop_misc()
(keep-alive).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from loguru import logger
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import CollectorRegistry, Gauge

from iot_pipeline.adapter.incoming import Incoming
from iot_pipeline.adapter.mqtt_client import BufferedClient
from iot_pipeline.config import Settings
from iot_pipeline.retry import Backoff


class SessionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connected = Gauge(
            "mqtt_adapter_mqtt_connected",
            "1 while connected to the MQTT broker.",
            registry=registry,
        )


def new_client(settings: Settings) -> BufferedClient:
    """A paho client for the adapter: MQTT 5, manual acknowledgements, credentials, TLS."""
    client = BufferedClient(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=settings.adapter_mqtt_client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)
    if settings.mqtt_tls_enabled:
        client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
    return client


class MqttSession:
    """Each message is handed to ``handle`` as it is read; :meth:`acknowledge` queues its
    acknowledgement, which the next round of :meth:`service` writes."""

    def __init__(
        self,
        settings: Settings,
        handle: Callable[[Incoming], None],
        metrics: SessionMetrics,
        backoff: Backoff | None = None,
        read_batch: int = 1000,
    ) -> None:
        self._settings = settings
        self._handle = handle
        self._metrics = metrics
        self._backoff = backoff or Backoff(initial=1.0, maximum=30.0)
        self._read_batch = read_batch
        self._topics = list(settings.adapter_mqtt_topics)
        self._received = 0
        self._attempts = 0
        self._next_attempt = 0.0
        client = new_client(settings)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish_fast = self._on_publish
        client.on_subscribe = self._on_subscribe
        self.client = client

    def start(self) -> None:
        """Set the connection up; service() connects, and reconnects whenever it is lost."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.adapter_mqtt_session_expiry_sec
        properties.ReceiveMaximum = self._settings.adapter_mqtt_receive_maximum
        self.client.connect_async(
            self._settings.mqtt_broker_host,
            self._settings.mqtt_broker_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )

    @property
    def connected(self) -> bool:
        return self.client.socket() is not None

    def service(self, timeout: float) -> int:
        """One round of MQTT I/O: (re)connect when due, wait up to ``timeout`` for the socket,
        read and handle what has arrived (up to ``read_batch`` messages), write what is queued
        (acknowledgements), keep the connection alive. Returns the messages handled."""
        client = self.client
        sock = client.socket()
        if sock is None:
            self._reconnect_if_due()
            return 0
        client.flush_pubacks()
        tls_pending = client.buffered() or (sock.pending() if hasattr(sock, "pending") else 0)
        writers = [sock] if client.want_write() else []
        readable, _, _ = select.select([sock], writers, [], 0.0 if tls_pending else timeout)
        before = self._received
        if readable or tls_pending:
            # loop_read() reads one packet a call; keep reading while messages keep coming.
            last = -1
            while self._received != last and self._received - before < self._read_batch:
                last = self._received
                if client.loop_read() != 0:  # connection lost; paho closed it and reported it
                    return self._received - before
        if client.want_write() and client.loop_write() != 0:
            return self._received - before
        client.loop_misc()
        return self._received - before

    def _reconnect_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            return
        self._attempts += 1
        try:
            self.client.reconnect()
        except OSError as exc:
            delay = self._backoff.delay(self._attempts)
            logger.warning(
                "cannot connect to MQTT {}:{} ({}); retrying in {:.0f}s",
                self._settings.mqtt_broker_host,
                self._settings.mqtt_broker_port,
                exc,
                delay,
            )
            self._next_attempt = now + delay

    def acknowledge(self, mid: int, qos: int) -> None:
        """Acknowledge a message; QoS 1 acknowledgements go out together with the next round
        of :meth:`service` (or :meth:`stop`)."""
        if qos == 1:
            self.client.queue_puback(mid)
        else:
            self.client.ack(mid, qos)

    def stop(self) -> None:
        """Send what is queued (acknowledgements) and disconnect; the session stays."""
        if self.client.socket() is not None:
            self.client.flush_pubacks()
            self.client.loop_write()
        self.client.disconnect()

    def _on_connect(
        self, client: Any, _userdata: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.error("MQTT connection refused: {}", reason)
            self._next_attempt = time.monotonic() + self._backoff.delay(max(1, self._attempts))
            return
        self._attempts = 0
        self._metrics.connected.set(1)
        logger.info(
            "connected to MQTT {}:{} (session present: {}); subscribing to {}",
            self._settings.mqtt_broker_host,
            self._settings.mqtt_broker_port,
            flags.session_present,
            self._topics,
        )
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self._topics])

    def _on_subscribe(
        self, _client: Any, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        for topic, reason in zip(self._topics, reasons, strict=False):
            if reason.is_failure:
                logger.error("subscription to {} refused: {}", topic, reason)

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._metrics.connected.set(0)
        # Reconnect after a short pause rather than at once, and with backoff if it keeps failing.
        self._next_attempt = time.monotonic() + self._backoff.delay(max(1, self._attempts))
        logger.warning("disconnected from MQTT ({}); reconnecting with backoff", reason)

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, _dup: bool) -> None:
        self._received += 1
        self._handle(
            Incoming(
                topic=topic.decode("utf-8", "replace"),
                payload=payload,
                mid=mid,
                qos=1,
                received_at=datetime.now(UTC),
                received_mono=time.monotonic(),
            )
        )

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self._received += 1
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = bytes(message._topic).decode("utf-8", "replace")
        self._handle(
            Incoming(
                topic=topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                received_at=datetime.now(UTC),
                received_mono=time.monotonic(),
            )
        )
