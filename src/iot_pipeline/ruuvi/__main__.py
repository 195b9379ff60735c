"""Entry point of ``python -m iot_pipeline.ruuvi``."""

import sys

from iot_pipeline.ruuvi.cli import main

if __name__ == "__main__":
    sys.exit(main())
