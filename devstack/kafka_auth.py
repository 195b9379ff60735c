"""Who may do what on the Kafka brokers: one SCRAM principal per service and its ACLs.

Pure data and pure functions (standard library only); ``devstack.kafka_users`` applies them to a
running cluster. Brokers run KRaft's StandardAuthorizer with
``allow.everyone.if.no.acl.found=false``: a principal may do only what an ACL below allows. The
loopback PLAINTEXT and CONTROLLER listeners (principal ``User:ANONYMOUS``) are super users: see
``devstack.kafka_services``.
"""

from __future__ import annotations

from dataclasses import dataclass

SIMULATOR = "iot-simulator"
ADAPTER = "iot-adapter"
SINK = "iot-sink"
ALERTS = "iot-alerts"
LAKE = "iot-lake"
LAG_EXPORTER = "iot-lag-exporter"
ADMIN = "iot-admin"
PRINCIPALS = (SIMULATOR, ADAPTER, SINK, ALERTS, LAKE, LAG_EXPORTER, ADMIN)

# Native stack only: the tests and benchmarks start the services on topics and groups of their own,
# named with these prefixes; each service's principal has its usual rights on such names too.
TEST_PREFIXES = ("test-", "e2e-", "chaos-", "bench-")

ALL = "*"  # Kafka's wildcard resource name (with the LITERAL pattern)

# Operations of a producer that also makes sure its topics exist at start (ensure_topics lists,
# creates and reads back the topics' configs).
_PRODUCE = ("WRITE", "DESCRIBE")
_ENSURE = ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS")
_READ = ("READ", "DESCRIBE")


@dataclass(frozen=True)
class Names:
    """The pipeline's topics and consumer groups (the settings' defaults)."""

    readings: str = "iot-sensor-data"
    dead_letters: str = "iot-sensor-data-dlq"
    alerts: str = "iot-sensor-alerts"
    sink_group: str = "iot-timescaledb-sink"
    # Prefixed: the alert consumer also reads its alert log back as "<group>-alert-log".
    alerts_group: str = "iot-data-consumer"
    lake_group: str = "iot-lake-archiver"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: ``principal`` may do ``operation`` on ``resource`` (topic, group or
    cluster) ``name``, matched literally or as a prefix (``pattern``), from any host."""

    principal: str
    resource: str
    name: str
    pattern: str
    operation: str


@dataclass(frozen=True)
class Grant:
    resource: str  # topic | group | cluster
    name: str
    operations: tuple[str, ...]
    pattern: str = "literal"


def grants(names: Names) -> dict[str, list[Grant]]:
    """Each principal's rights on the pipeline's own topics and groups."""
    producer = [
        Grant("topic", names.readings, (*_PRODUCE, "CREATE", "DESCRIBE_CONFIGS")),
        Grant("topic", names.dead_letters, (*_PRODUCE, "CREATE", "DESCRIBE_CONFIGS")),
        # ensure_topics makes all three pipeline topics; the producers write no alerts.
        Grant("topic", names.alerts, _ENSURE),
    ]
    return {
        SIMULATOR: producer,
        ADAPTER: producer,
        SINK: [
            Grant("topic", names.readings, _READ),
            Grant("group", names.sink_group, _READ),
            Grant("topic", names.dead_letters, _PRODUCE),
        ],
        ALERTS: [
            Grant("topic", names.readings, _READ),
            Grant("group", names.alerts_group, _READ, pattern="prefixed"),
            # It writes alert events and reads the compacted log back at start.
            Grant("topic", names.alerts, (*_PRODUCE, "READ")),
            Grant("topic", names.dead_letters, _PRODUCE),
        ],
        LAKE: [
            Grant("topic", names.readings, _READ),
            Grant("group", names.lake_group, _READ),
            Grant("topic", names.dead_letters, _PRODUCE),
        ],
        # Lists every group and its offsets, and the partitions' end offsets.
        LAG_EXPORTER: [
            Grant("cluster", "kafka-cluster", ("DESCRIBE",)),
            Grant("topic", ALL, ("DESCRIBE",)),
            Grant("group", ALL, ("DESCRIBE",)),
        ],
        ADMIN: [
            Grant("cluster", "kafka-cluster", ("ALL",)),
            Grant("topic", ALL, ("ALL",)),
            Grant("group", ALL, ("ALL",)),
        ],
    }


def _test_grants(own: list[Grant], prefixes: tuple[str, ...]) -> list[Grant]:
    """The same operations on the tests' prefixed topics and groups (wildcards excluded)."""
    out: list[Grant] = []
    for resource in ("topic", "group"):
        operations = sorted(
            {op for g in own if g.resource == resource and g.name != ALL for op in g.operations}
        )
        if operations:
            out += [Grant(resource, prefix, tuple(operations), "prefixed") for prefix in prefixes]
    return out


def acls(names: Names = Names(), test_prefixes: tuple[str, ...] = ()) -> list[Acl]:
    """Every ACL of every principal, sorted; with ``test_prefixes`` (the native stack) each
    service's principal has its operations on topics and groups named with those prefixes."""
    rules: set[Acl] = set()
    for principal, own in grants(names).items():
        for grant in [*own, *_test_grants(own, test_prefixes)]:
            rules |= {
                Acl(f"User:{principal}", grant.resource, grant.name, grant.pattern, op)
                for op in grant.operations
            }
    return sorted(rules)


def acl_table(names: Names = Names()) -> list[str]:
    """The ACLs as Markdown table rows (the README's table is checked against this)."""
    rows = []
    for principal, own in grants(names).items():
        for grant in own:
            where = f"{grant.resource} `{grant.name}`" + (
                " (prefix)" if grant.pattern == "prefixed" else ""
            )
            rows.append(f"| `{principal}` | {where} | {', '.join(grant.operations)} |")
    return rows
