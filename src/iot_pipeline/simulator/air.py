"""Indoor air of one room as a Ruuvi Air sees it (pure: the clock and the random source are
passed in).

A well-mixed room of ``volume_m3`` with occupants, ventilation and particle sources:

* **Occupancy** follows an office day (people arrive from 8 h, fewer at lunch, gone after 18 h
  and at weekends), changing one person at a time.
* **CO2** (ppm): each person exhales about 0.0052 L/s of CO2 (sedentary adult, ASHRAE 62.1
  background); outdoor air is 420 ppm; ventilation of ``ach`` air changes per hour. The mass
  balance dC/dt = G·n/V − ach·(C − C_out) is solved exactly over each step, so the level climbs
  towards C_out + G·n/(V·ach) and decays after people leave or a window opens (occupants open
  one, sometimes, once it feels stuffy above 1,200 ppm).
* **PM** (µg/m³): outdoor PM2.5 infiltrates (penetration 0.7) and deposits (0.2 /h); indoor
  sources (cooking, a candle) emit for minutes. PM1.0 < PM2.5 < PM4.0 < PM10 ("smaller than":
  each includes the smaller).
* **VOC/NOx indexes** (Sensirion scale: VOC 100 = the room's usual, NOx 1 = baseline) rise with
  people and with cooking; **illuminance** follows daylight plus lights while occupied.

Anomalies (with ``anomaly_probability`` per step): a cooking event (PM2.5 into the hundreds)
or a crowded meeting with the window shut (CO2 well above 1,000 ppm for most of an hour).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Final

OUTDOOR_CO2: Final = 420.0  # ppm
CO2_PER_PERSON: Final = 0.0052e-3  # m³/s exhaled CO2 per sedentary adult
OUTDOOR_PM25: Final = 8.0  # µg/m³
PENETRATION: Final = 0.7
DEPOSITION_PER_HOUR: Final = 0.2
CLOSED_ACH: Final = 0.5
OPEN_ACH: Final = 4.0
MAX_STEP_S: Final = 600.0


@dataclass
class RoomAir:
    volume_m3: float = 40.0
    co2: float = 450.0
    pm2_5: float = 5.0
    occupants: int = 0
    window_open: bool = False
    source_ug_m3_h: float = 0.0  # current indoor PM emission
    source_left_s: float = 0.0
    crowd_left_s: float = 0.0
    last_ms: int | None = None
    temperature: float = 21.0
    humidity: float = 40.0
    voc_index: float = 100.0
    nox_index: float = 1.0
    illuminance: float = 0.0

    @property
    def ach(self) -> float:
        return OPEN_ACH if self.window_open else CLOSED_ACH

    def pm(self) -> dict[str, float]:
        """PM1.0/2.5/4.0/10 from PM2.5 with typical indoor ratios (each includes the smaller)."""
        return {
            "pm1_0": self.pm2_5 * 0.72,
            "pm2_5": self.pm2_5,
            "pm4_0": self.pm2_5 * 1.08,
            "pm10_0": self.pm2_5 * 1.25,
        }


def occupancy_target(moment: datetime) -> int:
    """People an office room of four holds at this local time."""
    if moment.weekday() >= 5:
        return 0
    hour = moment.hour + moment.minute / 60
    if 8 <= hour < 12 or 13 <= hour < 18:
        return 4
    if 12 <= hour < 13:
        return 1
    return 0


def _relax(value: float, target: float, rate_per_s: float, dt: float) -> float:
    """Exact solution of dv/dt = rate·(target − v) over dt."""
    return target + (value - target) * math.exp(-rate_per_s * dt)


def _daylight(moment: datetime) -> float:
    hour = moment.hour + moment.minute / 60
    return max(0.0, math.sin((hour - 6) / 12 * math.pi)) * 300.0 if 6 <= hour <= 18 else 0.0


def step(room: RoomAir, moment: datetime, rng: random.Random, anomaly_probability: float) -> bool:
    """Advance the room to ``moment``; True when an anomaly was injected at this step."""
    now_ms = int(moment.timestamp() * 1000)
    dt = 0.0 if room.last_ms is None else min(max(0.0, (now_ms - room.last_ms) / 1000), MAX_STEP_S)
    room.last_ms = now_ms
    anomaly = rng.random() < anomaly_probability
    if anomaly:
        if rng.random() < 0.5:
            room.source_ug_m3_h = rng.uniform(1500.0, 4000.0)  # cooking, a candle
            room.source_left_s = rng.uniform(600.0, 1200.0)
        else:
            room.crowd_left_s = rng.uniform(1800.0, 3600.0)  # a meeting of ten, window shut
            room.window_open = False

    target = 10 if room.crowd_left_s > 0 else occupancy_target(moment)
    if room.occupants != target and rng.random() < min(1.0, dt / 120 + 0.05):
        room.occupants += 1 if target > room.occupants else -1
    if room.crowd_left_s <= 0:
        if not room.window_open and room.co2 > 1200 and rng.random() < dt / 900:
            room.window_open = True
        elif room.window_open and (room.co2 < 600 or rng.random() < dt / 1800):
            room.window_open = False

    ach_s = room.ach / 3600
    generation = room.occupants * CO2_PER_PERSON / room.volume_m3 * 1e6  # ppm/s
    room.co2 = _relax(room.co2, OUTDOOR_CO2 + generation / ach_s, ach_s, dt)

    source = room.source_ug_m3_h if room.source_left_s > 0 else 0.0
    loss = room.ach + DEPOSITION_PER_HOUR
    pm_target = (PENETRATION * room.ach * OUTDOOR_PM25 + source) / loss
    room.pm2_5 = max(0.0, _relax(room.pm2_5, pm_target, loss / 3600, dt) + rng.gauss(0, 0.3))

    cooking = 1.0 if room.source_left_s > 0 else 0.0
    room.source_left_s = max(0.0, room.source_left_s - dt)
    room.crowd_left_s = max(0.0, room.crowd_left_s - dt)
    room.voc_index = _relax(room.voc_index, 100 + 15 * room.occupants + 250 * cooking, 1 / 600, dt)
    room.nox_index = _relax(room.nox_index, 1 + 30 * cooking, 1 / 300, dt)
    room.temperature = _relax(room.temperature, 20.5 + 0.3 * room.occupants, 1 / 1800, dt)
    room.temperature += rng.gauss(0, 0.02)
    room.humidity = _relax(room.humidity, 38 + 1.5 * room.occupants, 1 / 1800, dt)
    lights = 400.0 if room.occupants else 0.0
    room.illuminance = max(0.0, _daylight(moment) + lights + rng.gauss(0, 5))
    return anomaly
