"""Lake archiver: Kafka iot-sensor-data -> the Iceberg table (see iot_pipeline.lake.service)."""

import sys

from iot_pipeline.lake.service import main

if __name__ == "__main__":
    sys.exit(main())
