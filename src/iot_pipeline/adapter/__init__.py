"""RuuviTag adapter: MQTT messages from gateways into validated per-sensor records in Kafka.

Pure logic lives in ``validation`` (parse one message), ``transform`` (reading to records) and
``dedup`` (the same measurement through two gateways); ``service`` is the thin I/O loop.
"""
