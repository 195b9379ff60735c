"""Alert consumer: readings -> anomaly rules -> alert events on the alerts topic."""

from iot_pipeline.alerts.service import main

if __name__ == "__main__":
    raise SystemExit(main())
