"""RuuviTag adapter: gateways' MQTT messages -> validated per-sensor Avro records in Kafka."""

from iot_pipeline.adapter.service import main

if __name__ == "__main__":
    raise SystemExit(main())
