#!/usr/bin/env bash
# One-shot kafka-init of Docker Compose (the kafka-broker image): each service's SCRAM-SHA-512
# user and its ACLs, nothing more (the StandardAuthorizer denies what is not granted here).
# Authenticates as the brokers' own PLAIN identity "broker" (a super user) over TLS. Idempotent:
# passwords are set again and ACLs added again on every start (adding an existing ACL is a no-op).
#   principal         may
#   iot-admin         create and configure the pipeline's topics (the kafka-topics job)
#   iot-simulator     write readings and dead letters
#   iot-adapter       write readings and dead letters
#   iot-sink          read readings in its group, write dead letters
#   iot-alerts        read readings in its groups, read and write alerts, write dead letters
#   iot-lake          read readings in its group, write dead letters
#   iot-lag-exporter  describe groups, topics and the cluster (offsets and lag)
#   iot-registry      the schema registry's _schemas topic and group
#   iot-ui            read-only view of topics, groups and the cluster (kafka-ui)
set -euo pipefail

: "${KAFKA_BROKER_PASSWORD:?}" "${KAFKA_BOOTSTRAP:=kafka-broker-1:9092}"
readings="${KAFKA_TOPIC_NAME:-iot-sensor-data}"
dlq="${KAFKA_DLQ_TOPIC_NAME:-iot-sensor-data-dlq}"
alerts="${KAFKA_ALERTS_TOPIC_NAME:-iot-sensor-alerts}"
config="${BROKER_CLIENT_PROPERTIES:-/tmp/kafka-init.properties}"
(
    umask 077
    cat > "$config" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
ssl.truststore.type=PEM
ssl.truststore.location=${KAFKA_SSL_TRUSTSTORE_LOCATION:-/certs/public/ca.pem}
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="${KAFKA_BROKER_PASSWORD}";
PROPERTIES
)
# KAFKA_TOOL_PREFIX: tests print the commands instead of running them.
configs() { ${KAFKA_TOOL_PREFIX:-} kafka-configs --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$config" "$@"; }
acl() { ${KAFKA_TOOL_PREFIX:-} kafka-acls --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$config" --add --allow-principal "User:$1" "${@:2}"; }

user() {  # user NAME PASSWORD_VARIABLE
    local password="${!2:?$2 must be set (docker/.env)}"
    configs --alter --entity-type users --entity-name "$1" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=${password}]"
}

user iot-admin KAFKA_ADMIN_PASSWORD
user iot-simulator KAFKA_SIMULATOR_PASSWORD
user iot-adapter KAFKA_ADAPTER_PASSWORD
user iot-sink KAFKA_SINK_PASSWORD
user iot-alerts KAFKA_ALERTS_PASSWORD
user iot-lake KAFKA_LAKE_PASSWORD
user iot-lag-exporter KAFKA_LAG_EXPORTER_PASSWORD
user iot-registry KAFKA_REGISTRY_PASSWORD
user iot-ui KAFKA_UI_PASSWORD

for topic in "$readings" "$dlq" "$alerts"; do
    acl iot-admin --operation All --topic "$topic"
done
acl iot-admin --operation Create --operation Describe --operation DescribeConfigs --cluster
for producer in iot-simulator iot-adapter; do
    acl "$producer" --operation Write --operation Describe --topic "$readings" --topic "$dlq"
done
acl iot-sink --operation Read --operation Describe --topic "$readings"
acl iot-sink --operation Read --group "${SINK_CONSUMER_GROUP_ID:-iot-timescaledb-sink}"
acl iot-sink --operation Write --operation Describe --topic "$dlq"
acl iot-alerts --operation Read --operation Describe --topic "$readings"
acl iot-alerts --operation Read --operation Write --operation Describe --topic "$alerts"
acl iot-alerts --operation Write --operation Describe --topic "$dlq"
# The alert consumer's group and its alert-log reader's (<group>-alert-log).
acl iot-alerts --operation Read --resource-pattern-type prefixed \
    --group "${KAFKA_CONSUMER_GROUP_ID:-iot-data-consumer}"
acl iot-lake --operation Read --operation Describe --topic "$readings"
acl iot-lake --operation Read --group "${LAKE_CONSUMER_GROUP_ID:-iot-lake-archiver}"
acl iot-lake --operation Write --operation Describe --topic "$dlq"
acl iot-lag-exporter --operation Describe --group '*'
acl iot-lag-exporter --operation Describe --topic '*'
acl iot-lag-exporter --operation Describe --cluster
acl iot-registry --operation All --topic _schemas
acl iot-registry --operation Read --operation Describe --resource-pattern-type prefixed \
    --group schema-registry
acl iot-registry --operation DescribeConfigs --cluster
acl iot-ui --operation Read --operation Describe --operation DescribeConfigs --topic '*'
acl iot-ui --operation Describe --group '*'
acl iot-ui --operation Describe --operation DescribeConfigs --cluster
echo "kafka-init: 9 SCRAM-SHA-512 users and their ACLs are in place"
