"""Alertmanager's inhibition, on the stack's running Alertmanager with this checkout's config."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from devstack.config import StackConfig
from tests.monitoring.conftest import ALERTMANAGER, http_json

pytestmark = pytest.mark.e2e


def _post_alerts(alerts: list[dict[str, object]]) -> None:
    http_json(f"{ALERTMANAGER}/api/v2/alerts", data=json.dumps(alerts).encode())


def test_a_broker_down_alert_inhibits_its_consequences(monitoring_live: StackConfig) -> None:
    test_id = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    ends = (now + timedelta(minutes=2)).isoformat()

    def alert(name: str, severity: str) -> dict[str, object]:
        labels = {"alertname": name, "severity": severity, "component": "kafka", "test_id": test_id}
        started = (now - timedelta(minutes=1)).isoformat()
        return {"labels": labels, "startsAt": started, "endsAt": ends}

    cause = alert("KafkaBrokerDown", "critical")
    consequence = alert("KafkaUnderReplicatedPartitions", "warning")
    unrelated = alert("DiskSpaceLow", "warning")
    _post_alerts([cause, consequence, unrelated])
    try:
        found = http_json(f"{ALERTMANAGER}/api/v2/alerts?filter=test_id%3D%22{test_id}%22")
        status = {a["labels"]["alertname"]: a["status"] for a in found}
        assert status["KafkaUnderReplicatedPartitions"]["state"] == "suppressed"
        assert status["KafkaUnderReplicatedPartitions"]["inhibitedBy"]
        assert status["KafkaBrokerDown"]["state"] == "active"
        assert status["DiskSpaceLow"]["state"] == "active"
    finally:  # resolve the synthetic alerts at once
        resolved = datetime.now(UTC).isoformat()
        _post_alerts([{**a, "endsAt": resolved} for a in (cause, consequence, unrelated)])
