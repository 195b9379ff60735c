"""paho-mqtt's client with a cheaper receive path for the adapter (paho-mqtt 2.2, pinned).

paho reads every packet with three to four recv() calls (the fixed header's first byte, each
byte of the remaining length, then the rest), builds a ``Properties`` object and an
``MQTTMessage`` for every PUBLISH and writes every acknowledgement with a send() of its own:
about half of the adapter's CPU a message went there (make bench BENCH=peers). This client
changes only how bytes move, not the protocol, which stays paho's (connection, session, keep-alive,
subscriptions, reconnection, TLS):

- reads are buffered: one recv() of up to ``READ_SIZE`` bytes serves many packets; a new socket
  (a reconnection) starts with an empty buffer; a packet whole in the buffer is framed at once
  and handed to paho's packet handling, one that is not (or whose length is malformed) is read
  by paho's own code from the same buffer;
- a QoS 1 PUBLISH of MQTT 5 is decoded in place (topic, packet id, payload) and handed to
  ``on_publish_fast`` without an ``MQTTMessage``; its properties (the adapter uses none) are
  skipped once their length is checked, not parsed; other QoS and packets take paho's own path;
- acknowledgements queued with :meth:`queue_puback` go out together, as one write, when
  :meth:`flush_pubacks` is called (once a round of the session's loop); those queued on a
  connection that has since been lost are dropped, as paho drops its unsent packets on a
  reconnect (the broker redelivers those messages and the ledger acknowledges them then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket

READ_SIZE = 65536
PUBACK = 0x40
_PUBACK_HEADER = bytes((PUBACK, 2))  # PUBACK, remaining length 2: success, no properties
_QOS1 = 1

# (topic bytes, payload, packet id, dup): one QoS 1 PUBLISH as read.
OnPublish = Callable[[bytes, bytes, int, bool], None]


def decode_publish_qos1(packet: bytes | bytearray) -> tuple[bytes, int, bytes]:
    """(topic, packet id, payload) of an MQTT 5 QoS 1 PUBLISH's variable header and payload
    (everything after the fixed header); MalformedPacket when the lengths do not fit (pure)."""
    size = len(packet)
    if size < 2:
        raise MalformedPacket("PUBLISH shorter than its topic length")
    end = 2 + ((packet[0] << 8) | packet[1])
    if end + 3 > size:  # packet id (2) and at least the properties' length (1)
        raise MalformedPacket("PUBLISH shorter than its topic and packet id")
    topic = bytes(packet[2:end])
    mid = (packet[end] << 8) | packet[end + 1]
    pos = end + 2
    length = shift = 0
    while True:  # the properties' length: a variable byte integer of at most 4 bytes
        if pos >= size or shift > 21:
            raise MalformedPacket("PUBLISH properties length malformed")
        byte = packet[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    pos += length
    if pos > size:
        raise MalformedPacket("PUBLISH properties longer than the packet")
    return topic, mid, bytes(packet[pos:])


def frame(buffer: bytes, pos: int) -> tuple[int, int, int] | None:
    """(command byte, start, end) of the packet at ``pos`` when all of it is in ``buffer``;
    None when it is not, or when its remaining length is malformed (more than 4 bytes: paho's
    own read refuses it) (pure)."""
    size = len(buffer)
    if pos + 2 > size:
        return None
    command = buffer[pos]
    length = shift = 0
    i = pos + 1
    while True:
        if i >= size or shift > 21:
            return None
        byte = buffer[i]
        i += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    if i + length > size:
        return None
    return command, i, i + length


def _idle_packet() -> Any:
    """paho's state of 'no packet being read' (as its _packet_read() leaves it)."""
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class BufferedClient(mqtt.Client):
    """See the module's docstring. ``on_publish_fast`` receives MQTT 5 QoS 1 messages; while it
    is None every message takes paho's path to ``on_message``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_publish_fast: OnPublish | None = None
        self._read_buffer = b""
        self._read_pos = 0
        self._read_sock: object = None
        self._pubacks = bytearray()
        self._pubacks_sock: object = None

    def buffered(self) -> int:
        """Bytes read from the socket and not yet handled (select() does not see them)."""
        if self._read_sock is not self._sock:
            return 0
        return len(self._read_buffer) - self._read_pos

    def _sock_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if sock is not self._read_sock:  # a new connection: nothing of the old one is kept
            self._read_sock, self._read_buffer, self._read_pos = sock, b"", 0
        buffer, pos = self._read_buffer, self._read_pos
        if pos >= len(buffer):
            buffer = super()._sock_recv(max(bufsize, READ_SIZE))  # raises when nothing is there
            if not buffer:
                return buffer  # the connection was closed
            self._read_buffer, pos = buffer, 0
        end = pos + bufsize
        self._read_pos = min(end, len(buffer))
        return buffer[pos:end]

    def _packet_read(self) -> MQTTErrorCode:
        if self._in_packet["command"] or self._read_sock is not self._sock:
            return super()._packet_read()  # a packet paho began, or a new connection
        framed = frame(self._read_buffer, self._read_pos)
        if framed is None:
            return super()._packet_read()  # not all of it buffered: paho reads the rest
        command, start, end = framed
        self._read_pos = end
        in_packet = self._in_packet
        in_packet["command"] = command
        in_packet["packet"] = self._read_buffer[start:end]  # type: ignore[typeddict-item]
        in_packet["remaining_length"] = in_packet["to_process"] = end - start
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = _idle_packet()
        with self._msgtime_mutex:  # what keep-alive looks at, as paho's own read sets it
            self._last_bytes_received = mqtt.time_func()
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.on_publish_fast
        header = self._in_packet["command"]
        if (
            handler is None
            or (header & 0x06) >> 1 != _QOS1
            or self._protocol != MQTTProtocolVersion.MQTTv5
            or not self._manual_ack
        ):
            return super()._handle_publish()
        topic, mid, payload = decode_publish_qos1(self._in_packet["packet"])
        handler(topic, payload, mid, bool(header & 0x08))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def queue_puback(self, mid: int) -> None:
        """Acknowledge a QoS 1 message with the next :meth:`flush_pubacks`."""
        sock = self._sock
        if sock is None:
            return  # not connected: the broker redelivers it after the reconnection
        if sock is not self._pubacks_sock:
            self._pubacks_sock = sock
            self._pubacks.clear()
        self._pubacks += _PUBACK_HEADER
        self._pubacks += mid.to_bytes(2, "big")

    def flush_pubacks(self) -> None:
        """Queue the acknowledgements gathered since the last flush as one write."""
        if not self._pubacks:
            return
        if self._pubacks_sock is self._sock and self._sock is not None:
            self._packet_queue(PUBACK, bytes(self._pubacks), 0, 0)
        self._pubacks.clear()
