"""Simulator: simulated IoT devices -> Kafka (or simulated RuuviTags -> MQTT)."""

from iot_pipeline.simulator.service import main

if __name__ == "__main__":
    raise SystemExit(main())
