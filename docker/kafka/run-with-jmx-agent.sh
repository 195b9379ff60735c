#!/usr/bin/env bash
# Entrypoint of the kafka-broker image: Confluent's own start script with the Prometheus JMX
# exporter agent added to the BROKER's JVM only. KAFKA_OPTS is set here, in the broker's process
# tree, rather than in the container's environment: every Kafka CLI tool (the healthcheck's
# kafka-broker-api-versions, `docker exec ... kafka-topics`) reads KAFKA_OPTS too, and a second
# agent on the same port would stop that tool's JVM from starting. The broker's heap
# (BROKER_HEAP_OPTS) is set here for the same reason: CLI tools keep Kafka's small default heap.
set -euo pipefail
if [[ -n "${BROKER_HEAP_OPTS:-}" ]]; then
    export KAFKA_HEAP_OPTS="$BROKER_HEAP_OPTS"
fi
: "${JMX_EXPORTER_PORT:=7071}"
: "${JMX_EXPORTER_CONFIG:=/etc/jmx-exporter/kafka.yml}"
if [[ ! -r "$JMX_EXPORTER_CONFIG" ]]; then
    echo "JMX exporter config $JMX_EXPORTER_CONFIG is missing (mount monitoring/jmx/kafka.yml)" >&2
    exit 1
fi
# The healthcheck's (and kafka-init's) client settings: the broker's own PLAIN identity over TLS
# with the compose CA, readable by this container's user only. BROKER_CLIENT_PROPERTIES: tests.
if [[ -n "${BROKER_CLIENT_PASSWORD:-}" ]]; then
    client_properties="${BROKER_CLIENT_PROPERTIES:-/tmp/broker-client.properties}"
    (
        umask 077
        cat > "$client_properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
ssl.truststore.type=PEM
ssl.truststore.location=${KAFKA_SSL_TRUSTSTORE_LOCATION:-/certs/public/ca.pem}
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="${BROKER_CLIENT_PASSWORD}";
EOF
    )
fi
export KAFKA_OPTS="${KAFKA_OPTS:+$KAFKA_OPTS }-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent.jar=${JMX_EXPORTER_PORT}:${JMX_EXPORTER_CONFIG}"
# CONFLUENT_RUN: for tests of this script only.
exec "${CONFLUENT_RUN:-/etc/confluent/docker/run}" "$@"
