"""The adapter's paho client: its PUBLISH decoding agrees with paho's, buffered reads hand on
every packet whatever the chunks the socket delivers, and acknowledgements go out together (and
never on a later connection). Over a socketpair: the broker side is played by the test."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.client import _ConnectionState
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from iot_pipeline.adapter.mqtt_client import (
    BufferedClient,
    _idle_packet,
    decode_publish_qos1,
    frame,
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _properties(expiry: int | None, user: list[tuple[str, str]]) -> bytes:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    for pair in user:
        props.UserProperty = pair
    return bytes(props.pack())  # type: ignore[no-untyped-call]


def publish(
    topic: bytes, payload: bytes, mid: int, qos: int = 1, dup: bool = False, props: bytes = b"\0"
) -> bytes:
    """One MQTT 5 PUBLISH packet as a broker sends it."""
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    body += props + payload
    header = 0x30 | (qos << 1) | (0x08 if dup else 0)
    return bytes((header,)) + _varint(len(body)) + body


# MQTT strings hold no U+0000 (paho refuses them): the properties the broker passes on.
_TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200
)


def _body(packet: bytes) -> bytes:
    """A packet without its fixed header (the first byte and the remaining length)."""
    end = 1
    while packet[end] & 0x80:
        end += 1
    return packet[end + 1 :]


@settings(max_examples=300, deadline=None)
@given(
    topic=st.binary(max_size=300),
    payload=st.binary(max_size=3000),
    mid=st.integers(1, 65535),
    expiry=st.none() | st.integers(0, 2**32 - 1),
    user=st.lists(st.tuples(_TEXT.filter(lambda t: len(t) < 20), _TEXT), max_size=30),
)
def test_decode_agrees_with_paho(
    topic: bytes, payload: bytes, mid: int, expiry: int | None, user: list[tuple[str, str]]
) -> None:
    packet = publish(topic, payload, mid, props=_properties(expiry, user))
    body = _body(packet)
    expected = _packet.decode_publish(packet[0], body, MQTTProtocolVersion.MQTTv5)
    assert decode_publish_qos1(body) == (expected.topic, expected.mid, expected.payload)
    assert decode_publish_qos1(bytearray(body)) == (expected.topic, expected.mid, expected.payload)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00",
        b"\x00\x05abc",  # topic longer than the packet
        b"\x00\x01a\x00",  # no packet id
        b"\x00\x01a\x00\x01",  # no properties length
        b"\x00\x01a\x00\x01\x05\x01",  # properties longer than the packet
        b"\x00\x01a\x00\x01\x80\x80\x80\x80\x01",  # a properties length of five bytes
    ],
)
def test_malformed_publish_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_publish_qos1(body)


class Broker:
    """The broker's end of a socketpair around a BufferedClient that believes it is connected."""

    def __init__(self) -> None:
        self.client = BufferedClient(
            mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.fast: list[tuple[bytes, bytes, int, bool]] = []
        self.slow: list[tuple[str, bytes, int, int]] = []
        self.client.on_publish_fast = lambda *args: self.fast.append(args)
        self.client.on_message = lambda _c, _u, m: self.slow.append(
            (m.topic, m.payload, m.mid, m.qos)
        )
        self.connect()

    def connect(self) -> None:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.settimeout(5)
        self.client._sock = ours
        self.client._state = _ConnectionState.MQTT_CS_CONNECTED
        self.peer = theirs

    def read_all(self) -> None:
        while True:
            before = len(self.fast) + len(self.slow)
            assert self.client.loop_read() == mqtt.MQTT_ERR_SUCCESS
            if len(self.fast) + len(self.slow) == before and not self.client.buffered():
                return

    def received(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            data += self.peer.recv(size - len(data))
        return data


def _chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    pos = 0
    for size in sizes:
        yield data[pos : pos + size]
        pos += size
    yield data[pos:]


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=400), min_size=1, max_size=40),
    sizes=st.lists(st.integers(1, 700), max_size=60),
)
def test_every_packet_is_handed_on_whatever_the_chunks(
    payloads: list[bytes], sizes: list[int]
) -> None:
    broker = Broker()
    stream = b"".join(
        publish(f"ruuvi/gw/{i}".encode(), p, i + 1, dup=i % 3 == 0) for i, p in enumerate(payloads)
    )
    for chunk in _chunks(stream, sizes):
        if chunk:
            broker.peer.sendall(chunk)
            broker.read_all()
    assert broker.fast == [
        (f"ruuvi/gw/{i}".encode(), p, i + 1, i % 3 == 0) for i, p in enumerate(payloads)
    ]
    assert broker.slow == []


def test_qos_0_and_2_take_pahos_path() -> None:
    broker = Broker()
    pubrel = b"\x62\x02\x00\x07"  # QoS 2 is handed on once the broker releases it
    broker.peer.sendall(publish(b"a/b", b"zero", 0, qos=0) + publish(b"a/c", b"two", 7, qos=2))
    broker.read_all()
    broker.peer.sendall(pubrel)
    broker.read_all()
    assert broker.fast == []
    assert broker.slow == [("a/b", b"zero", 0, 0), ("a/c", b"two", 7, 2)]


def test_pubacks_go_out_together_when_flushed() -> None:
    broker = Broker()
    for mid in (1, 300, 65535):
        broker.client.queue_puback(mid)
    broker.peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        broker.peer.recv(100)  # nothing before the flush
    broker.peer.settimeout(5)
    broker.client.flush_pubacks()
    assert broker.received(12) == b"\x40\x02\x00\x01\x40\x02\x01\x2c\x40\x02\xff\xff"
    broker.client.flush_pubacks()  # nothing more queued
    broker.client.queue_puback(2)
    broker.client.flush_pubacks()
    assert broker.received(4) == b"\x40\x02\x00\x02"


def test_a_new_connection_drops_old_pubacks_and_unread_bytes() -> None:
    broker = Broker()
    broker.client.queue_puback(5)
    first = publish(b"t", b"x" * 10, 1)
    broker.peer.sendall(first + publish(b"t", b"y", 2)[:3])  # the second one cut short
    broker.read_all()
    assert [m[2] for m in broker.fast] == [1]
    old_peer = broker.peer
    broker.connect()  # the connection was lost and made again
    broker.client.flush_pubacks()
    broker.client._in_packet = _idle_packet()  # what paho's reconnect() does
    broker.peer.sendall(publish(b"t", b"z", 3))
    broker.read_all()
    assert [m[2] for m in broker.fast] == [1, 3]
    old_peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        old_peer.recv(100)  # the acknowledgement queued on the old connection never went out
    broker.peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        broker.peer.recv(100)  # nor on the new one


def test_not_connected_pubacks_are_dropped() -> None:
    broker = Broker()
    broker.client._sock = None
    broker.client.queue_puback(9)
    broker.client.flush_pubacks()
    assert not broker.client._pubacks


@pytest.mark.parametrize(
    ("buffer", "pos", "expected"),
    [
        (b"\xd0\x00", 0, (0xD0, 2, 2)),  # PINGRESP: no body
        (b"xx\x40\x02\x00\x01", 2, (0x40, 4, 6)),
        (b"\x40\x02\x00", 0, None),  # body not all there
        (b"\x30", 0, None),  # no length yet
        (b"\x30\x80", 0, None),  # length continues past the buffer
        (b"\x30\x80\x01" + b"x" * 128, 0, (0x30, 3, 131)),
        (b"\x30\x80\x80\x80\x80\x01", 0, None),  # five length bytes: left to paho, which refuses
    ],
)
def test_frame(buffer: bytes, pos: int, expected: tuple[int, int, int] | None) -> None:
    assert frame(buffer, pos) == expected


def test_a_malformed_length_is_a_protocol_error() -> None:
    broker = Broker()
    broker.peer.sendall(b"\x30\x80\x80\x80\x80\x01")
    assert broker.client.loop_read() == mqtt.MQTT_ERR_PROTOCOL


def test_reading_a_framed_packet_counts_for_keep_alive() -> None:
    broker = Broker()
    broker.client._last_bytes_received = 0.0
    broker.peer.sendall(publish(b"t", b"x", 1))
    broker.read_all()
    assert broker.fast and broker.client._last_bytes_received > 0.0
