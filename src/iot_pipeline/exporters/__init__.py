"""Small Prometheus exporters for parts of the stack that have none installable here:
Mosquitto's $SYS topics (``mosquitto``) and Kafka consumer-group lag (``kafka_lag``)."""
