"""Pure rules of the broker's users and ACL, the password file's input and the native config."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import mqtt_auth
from devstack.mosquitto import MOSQUITTO_CONF, BrokerAuth, mosquitto_native_conf
from devstack.tls import openssl_commands, server_extensions


def acl_sections(text: str) -> dict[str | None, list[str]]:
    """ACL rules by user (None: anonymous clients), comments dropped."""
    sections: dict[str | None, list[str]] = {None: []}
    user: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("user "):
            user = line.split()[1]
            sections[user] = []
        else:
            sections[user].append(line)
    return sections


def test_each_gateway_writes_only_its_own_topics_and_reads_nothing() -> None:
    kitchen = mqtt_auth.make_gateway("esp32-kitchen")
    office = mqtt_auth.make_gateway("gw-office", mqtt_auth.OFFICIAL, "aa-bb-cc-dd-ee-ff")
    acl = acl_sections(mqtt_auth.render_acl([office, kitchen]))
    assert acl["esp32-kitchen"] == [
        "topic write ruuvitag/data",
        "topic write ruuvitag/status/esp32-kitchen",
    ]
    assert acl["gw-office"] == ["topic write ruuvi/AA:BB:CC:DD:EE:FF/#"]
    assert acl[None] == ["topic read $SYS/#"]
    assert acl["ruuvitag-adapter"] == ["topic read ruuvitag/#", "topic read ruuvi/#"]
    assert acl["mosquitto-exporter"] == ["topic read $SYS/#"]
    assert all(not rule.startswith("topic read") for rule in acl["simulator"])
    assert "pipeline-tests" not in acl


def test_the_tests_identity_exists_only_when_asked_for() -> None:
    acl = acl_sections(mqtt_auth.render_acl([], with_tests_user=True))
    assert acl["pipeline-tests"] == ["topic readwrite #"]


@pytest.mark.parametrize(
    ("name", "kind", "mac"),
    [
        ("", "esp32", ""),
        ("has space", "esp32", ""),
        ("a:b", "esp32", ""),
        ("x" * 65, "esp32", ""),
        ("ruuvitag-adapter", "esp32", ""),
        ("pipeline-tests", "esp32", ""),
        ("gw", "ruuvi-gateway", ""),
        ("gw", "ruuvi-gateway", "AA:BB:CC:DD:EE"),
        ("gw", "ruuvi-gateway", "AA:BB:CC:DD:EE:GG"),
        ("gw", "esp32", "AA:BB:CC:DD:EE:FF"),
        ("gw", "other", ""),
    ],
)
def test_bad_gateways_are_refused_with_a_reason(name: str, kind: str, mac: str) -> None:
    with pytest.raises(mqtt_auth.GatewayError):
        mqtt_auth.make_gateway(name, kind, mac)


def test_macs_in_any_common_spelling_become_the_official_gateways_topic_form() -> None:
    for spelling in ("aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabbccddeeff"):
        assert mqtt_auth.normalise_mac(spelling) == "AA:BB:CC:DD:EE:FF"


def test_password_lines_are_mosquitto_passwd_input_and_refuse_what_would_break_it() -> None:
    assert mqtt_auth.password_lines({"b": "p2", "a": "p1"}) == "a:p1\nb:p2\n"
    with pytest.raises(mqtt_auth.GatewayError):
        mqtt_auth.password_lines({"a:b": "p"})
    with pytest.raises(mqtt_auth.GatewayError):
        mqtt_auth.password_lines({"a": "p\nb:q"})


def test_gateway_list_round_trips_through_json() -> None:
    gateways = [
        mqtt_auth.make_gateway("b"),
        mqtt_auth.make_gateway("a", mqtt_auth.OFFICIAL, "aabbccddeeff"),
    ]
    back = mqtt_auth.gateways_from_json(mqtt_auth.gateways_to_json(gateways))
    assert sorted(back, key=lambda g: g.name) == sorted(gateways, key=lambda g: g.name)


def test_instructions_say_what_to_enter_for_tls_and_the_gateways_own_password() -> None:
    esp = mqtt_auth.firmware_instructions(
        mqtt_auth.make_gateway("esp32-kitchen"), "pw-123", "host", 8883, Path("/s/ca.pem")
    )
    assert "mqtts://host:8883" in esp and "pw-123" in esp and "esp32-kitchen" in esp
    assert "main/certs/mqtt_ca.pem" in esp and "/s/ca.pem" in esp
    office = mqtt_auth.make_gateway("gw", mqtt_auth.OFFICIAL, "aabbccddeeff")
    web = mqtt_auth.firmware_instructions(office, "pw-9", "host", 8883, Path("/s/ca.pem"))
    assert "ruuvi/AA:BB:CC:DD:EE:FF" in web and "pw-9" in web and "8883" in web


def auth(tmp_path: Path) -> BrokerAuth:
    return BrokerAuth(
        tmp_path / "passwd",
        tmp_path / "acl",
        18883,
        tmp_path / "ca.pem",
        tmp_path / "server.pem",
        tmp_path / "server.key",
    )


def test_the_native_broker_refuses_anonymous_clients_and_adds_a_tls_listener(
    tmp_path: Path,
) -> None:
    conf = mosquitto_native_conf(MOSQUITTO_CONF.read_text(), 11883, tmp_path, auth(tmp_path))
    lines = conf.splitlines()
    assert "allow_anonymous true" not in lines
    assert lines.count("allow_anonymous false") == 1
    assert f"password_file {tmp_path / 'passwd'}" in lines
    assert f"acl_file {tmp_path / 'acl'}" in lines
    listeners = [line for line in lines if line.startswith("listener")]
    assert listeners == ["listener 11883 127.0.0.1", "listener 18883 127.0.0.1"]
    after_tls = lines[lines.index("listener 18883 127.0.0.1") :]
    assert f"certfile {tmp_path / 'server.pem'}" in after_tls
    assert f"keyfile {tmp_path / 'server.key'}" in after_tls


def test_a_throw_away_test_broker_without_auth_stays_anonymous(tmp_path: Path) -> None:
    conf = mosquitto_native_conf("listener 1883\nallow_anonymous false\nacl_file /x\n", 1, tmp_path)
    assert conf.splitlines()[-2:] == ["listener 1 127.0.0.1", "allow_anonymous true"]


def test_the_server_certificate_names_loopback_and_is_signed_by_the_local_ca(
    tmp_path: Path,
) -> None:
    ext = server_extensions(["IP:127.0.0.1", "DNS:localhost"])
    assert "subjectAltName=IP:127.0.0.1,DNS:localhost" in ext and "CA:FALSE" in ext
    commands = openssl_commands(tmp_path)
    assert commands[-1][:2] == ["openssl", "x509"]
    assert str(tmp_path / "ca.key") in commands[-1]
