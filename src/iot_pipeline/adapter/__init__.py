"""RuuviTag adapter: MQTT messages from gateways into validated per-sensor records in Kafka.

Pure logic: ``validation`` (parse one message), ``transform`` (reading to records), ``dedup``
(the same measurement through two gateways), ``ledger`` (when each MQTT message may be
acknowledged). ``pipeline`` handles one message (validate, drop duplicates, records, produce)
with ``delivery`` (produce, retry what Kafka failed) and ``fleet`` (tags and gateways seen);
``session`` is the paho MQTT session; ``service`` wires them into the thin I/O loop.
"""
