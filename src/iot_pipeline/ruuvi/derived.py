"""Quantities derived from a Ruuvi reading (pure; the one place they are computed).

* **Dew point** (°C) and **absolute humidity** (g/m³) for every tag that reports temperature and
  relative humidity (formats 3, 5, 6, E1). Saturation vapour pressure over water by the Magnus
  formula with Alduchov & Eskridge (1996) coefficients, e_s(T) = 610.94 Pa ·
  exp(17.625 T / (T + 243.04)), valid to about ±0.4 % for -40..50 °C; dew point is its inverse
  at e = RH · e_s(T); absolute humidity = e / (R_v · (T + 273.15)) with R_v = 461.5 J/(kg·K).
  Computed only for -45 <= T <= 60 °C and 0 < RH <= 100 % (outside that the formula or the
  reading is not meaningful: None).
* **Air-quality index** for Ruuvi Air (formats 6, E1): the Ruuvi Indoor Air Quality Score
  (IAQS, 0..100, higher is better), as Ruuvi's apps and Ruuvi Air compute it (docs.ruuvi.com,
  "Ruuvi Indoor Air Quality Score (IAQS)"): PM2.5 clamped to 0..60 µg/m³ and CO2 clamped to
  420..2300 ppm are each scaled to 0..100, and the score is 100 minus their Euclidean distance,
  clamped to 0..100, rounded half up to an integer as Ruuvi displays it. Grades: excellent
  >= 90, good >= 80, fair >= 50, poor >= 10, very poor below.

Values are rounded to 0.01 (dew point, absolute humidity): far below the sensors' accuracy.
"""

from __future__ import annotations

import math
from typing import Any, Final

MAGNUS_A: Final = 17.625
MAGNUS_B: Final = 243.04  # degC
MAGNUS_E0: Final = 610.94  # Pa
WATER_VAPOUR_GAS_CONSTANT: Final = 461.5  # J/(kg K)
TEMPERATURE_RANGE: Final = (-45.0, 60.0)

IAQS_MAX: Final = 100.0
PM25_MIN, PM25_MAX = 0.0, 60.0
CO2_MIN, CO2_MAX = 420.0, 2300.0

# (name of the derived sensor, unit), in the order records are produced.
DERIVED_SENSORS: Final = (
    ("dew_point", "°C"),
    ("absolute_humidity", "g/m³"),
    ("air_quality_index", "IAQS"),
)
IAQS_GRADES: Final = ((90.0, "excellent"), (80.0, "good"), (50.0, "fair"), (10.0, "poor"))


def _magnus_gamma(temperature: float | None, humidity: float | None) -> float | None:
    if temperature is None or humidity is None:
        return None
    if not (TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1] and 0 < humidity <= 100):
        return None
    return math.log(humidity / 100) + MAGNUS_A * temperature / (MAGNUS_B + temperature)


def dew_point(temperature: float | None, humidity: float | None) -> float | None:
    """Dew point in degC from temperature (degC) and relative humidity (%), or None."""
    gamma = _magnus_gamma(temperature, humidity)
    if gamma is None:
        return None
    return round(MAGNUS_B * gamma / (MAGNUS_A - gamma), 2)


def absolute_humidity(temperature: float | None, humidity: float | None) -> float | None:
    """Water vapour density in g/m³ from temperature (degC) and relative humidity (%), or None."""
    gamma = _magnus_gamma(temperature, humidity)
    if gamma is None or temperature is None:
        return None
    vapour_pressure = MAGNUS_E0 * math.exp(gamma)  # = RH * e_s(T), Pa
    density = vapour_pressure / (WATER_VAPOUR_GAS_CONSTANT * (temperature + 273.15))  # kg/m³
    return round(density * 1000, 2)


def air_quality_index(pm2_5: float | None, co2: float | None) -> float | None:
    """Ruuvi IAQS (0..100, higher is better) from PM2.5 (µg/m³) and CO2 (ppm), or None."""
    if pm2_5 is None or co2 is None:
        return None
    dx = (min(max(pm2_5, PM25_MIN), PM25_MAX) - PM25_MIN) * IAQS_MAX / (PM25_MAX - PM25_MIN)
    dy = (min(max(co2, CO2_MIN), CO2_MAX) - CO2_MIN) * IAQS_MAX / (CO2_MAX - CO2_MIN)
    score = min(max(IAQS_MAX - math.hypot(dx, dy), 0.0), IAQS_MAX)
    return float(math.floor(score + 0.5))


def iaqs_grade(score: float) -> str:
    """Ruuvi's grade of an IAQS value."""
    for low, grade in IAQS_GRADES:
        if score >= low:
            return grade
    return "very poor"


def derived_values(reading: Any) -> dict[str, float]:
    """The derived quantities a reading supports, by sensor name (missing inputs: left out).
    ``reading`` is any decoded Ruuvi reading (formats 3, 5, 6, E1)."""
    out: dict[str, float] = {}
    temperature = reading.temperature
    humidity = reading.humidity
    value = dew_point(temperature, humidity)
    if value is not None:
        out["dew_point"] = value
    value = absolute_humidity(temperature, humidity)
    if value is not None:
        out["absolute_humidity"] = value
    value = air_quality_index(getattr(reading, "pm2_5", None), getattr(reading, "co2", None))
    if value is not None:
        out["air_quality_index"] = value
    return out
