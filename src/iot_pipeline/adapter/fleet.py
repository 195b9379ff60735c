"""What the adapter has seen of the fleet: distinct tags, and which gateways say they are online
(bounded: at most the configured number of each is tracked)."""

from __future__ import annotations

from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Gauge

from iot_pipeline.adapter.validation import GatewayStatus


class FleetMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.devices_seen = Gauge(
            "mqtt_adapter_ruuvitag_devices_seen",
            "Distinct RuuviTags seen since start.",
            registry=registry,
        )
        self.gateways_online = Gauge(
            "mqtt_adapter_gateways_online",
            "Gateways whose last status message said online.",
            registry=registry,
        )
        self.gateway_status = Counter(
            "mqtt_adapter_gateway_status_messages_total",
            "Gateway status messages, by state.",
            ["state"],
            registry=registry,
        )


class Fleet:
    def __init__(self, metrics: FleetMetrics, max_devices: int, max_gateways: int) -> None:
        self._metrics = metrics
        self._max_devices = max_devices
        self._max_gateways = max_gateways
        self._devices: set[str] = set()
        self._gateways: dict[str, bool] = {}

    def note_device(self, tag_mac: str) -> None:
        if tag_mac not in self._devices and len(self._devices) < self._max_devices:
            self._devices.add(tag_mac)
            self._metrics.devices_seen.set(len(self._devices))

    def gateway_status(self, status: GatewayStatus) -> None:
        state = "online" if status.online else "offline"
        self._metrics.gateway_status.labels(state).inc()
        known = status.gateway_id in self._gateways
        if known or len(self._gateways) < self._max_gateways:
            if self._gateways.get(status.gateway_id) != status.online:
                logger.info("gateway {} is {}", status.gateway_id, state)
            self._gateways[status.gateway_id] = status.online
            self._metrics.gateways_online.set(sum(self._gateways.values()))
