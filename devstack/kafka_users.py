"""Applies ``devstack.kafka_auth`` to the running brokers: each principal's SCRAM-SHA-512 password
(from the stack's secrets file) and every ACL, over the loopback PLAINTEXT listener (a super user).

Idempotent: ``up`` runs it once the brokers are healthy; creating an ACL that exists is a no-op and
a password is set again to the value in the secrets file (the file is the truth: rotating a
password is changing it there and running this again, ``python -m devstack rotate-kafka-password``).
"""

from __future__ import annotations

from typing import Any

from devstack import secrets as stack_secrets
from devstack.config import StackConfig
from devstack.kafka_auth import PRINCIPALS, TEST_PREFIXES, Acl, Names, acls
from devstack.service_base import SetupError

SCRAM_ITERATIONS = 8192
TIMEOUT_S = 30.0


def _admin(cfg: StackConfig) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {"bootstrap.servers": cfg.kafka_bootstrap, "socket.timeout.ms": 10000, "log_level": 3}
    )


def _binding(acl: Acl) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    # librdkafka names Kafka's CLUSTER resource type (4) BROKER.
    resource = "BROKER" if acl.resource == "cluster" else acl.resource.upper()
    return AclBinding(
        ResourceType[resource],
        acl.name,
        ResourcePatternType[acl.pattern.upper()],
        acl.principal,
        "*",
        AclOperation[acl.operation],
        AclPermissionType.ALLOW,
    )


def set_passwords(cfg: StackConfig, principals: tuple[str, ...] = PRINCIPALS) -> None:
    """Give each principal its SCRAM-SHA-512 password from the secrets file."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [
        UserScramCredentialUpsertion(p, info, cfg.kafka_password(p).encode()) for p in principals
    ]
    admin = _admin(cfg)  # must outlive its futures
    futures = admin.alter_user_scram_credentials(upserts, request_timeout=TIMEOUT_S)
    for user, future in futures.items():
        try:
            future.result()
        except Exception as exc:
            raise SetupError(f"kafka: setting the SCRAM password of {user} failed: {exc}") from None


def ensure_users_and_acls(cfg: StackConfig) -> str:
    """Every principal's password and every ACL on the running cluster; what was done."""
    set_passwords(cfg)
    rules = acls(Names(), TEST_PREFIXES)
    admin = _admin(cfg)  # must outlive its futures
    futures = admin.create_acls([_binding(a) for a in rules], request_timeout=TIMEOUT_S)
    for binding, future in futures.items():
        try:
            future.result()
        except Exception as exc:
            raise SetupError(f"kafka: creating ACL {binding} failed: {exc}") from None
    return f"{len(PRINCIPALS)} SCRAM users, {len(rules)} ACLs"


def rotate_password(cfg: StackConfig, principal: str) -> int:
    """A new password for ``principal`` in the secrets file, then on the brokers."""
    if principal not in PRINCIPALS:
        print(f"unknown Kafka principal {principal!r}; one of: {', '.join(PRINCIPALS)}")
        return 2
    values = stack_secrets.rotate(cfg.state_dir, f"kafka_{principal}_password")
    cfg = cfg.with_secrets()
    assert cfg.secrets == values
    try:
        set_passwords(cfg, (principal,))
    except SetupError as exc:
        print(f"[devstack] FAILED: {exc}")
        return 1
    print(
        f"[devstack] {principal}: new SCRAM password set on the brokers and saved in "
        f"{stack_secrets.secrets_file(cfg.state_dir)}.\n"
        "  Sessions open now stay open; restart the service (make run reads the new password)."
    )
    return 0


def client_env(cfg: StackConfig, principal: str) -> dict[str, str]:
    """The settings that connect a service to the secured listener (SASL_SSL, SCRAM-SHA-512,
    the stack's CA) as ``principal``."""
    from devstack.tls import tls_dir

    return {
        "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_secure_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": principal,
        "KAFKA_SASL_PASSWORD": cfg.kafka_password(principal),
        "KAFKA_SSL_CA_LOCATION": str(tls_dir(cfg.state_dir) / "ca.pem"),
    }
