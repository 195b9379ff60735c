"""TimescaleDB sink: Kafka iot-sensor-data -> sensor_readings (see iot_pipeline.sink.service)."""

import sys

from iot_pipeline.sink.service import main

if __name__ == "__main__":
    sys.exit(main())
