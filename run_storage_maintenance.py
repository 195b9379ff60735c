"""Storage maintenance as the schema's owner: archiving, retention, aggregate refresh (see
iot_pipeline.storage.maintenance). The sink runs it itself only when its role owns the schema."""

import sys

from iot_pipeline.storage.maintenance import main

if __name__ == "__main__":
    sys.exit(main())
