"""Derived quantities: dew point, absolute humidity (Magnus, Alduchov & Eskridge) and Ruuvi IAQS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.ruuvi import decode_any_hex
from iot_pipeline.ruuvi.derived import (
    absolute_humidity,
    air_quality_index,
    derived_values,
    dew_point,
    iaqs_grade,
)

DOC = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_other_formats.json").read_text("utf-8")
)
VECTORS = {v["name"]: v["hex"] for v in DOC["vectors"]}


@pytest.mark.parametrize(
    ("t", "rh", "dew", "ah"),
    [
        # Reference values from psychrometric tables (within the formula's accuracy).
        (20.0, 50.0, 9.3, 8.65),
        (25.0, 100.0, 25.0, 23.05),
        (30.0, 80.0, 26.2, 24.3),
        (0.0, 100.0, 0.0, 4.85),
        (-10.0, 50.0, -18.4, 1.18),
    ],
)
def test_dew_point_and_absolute_humidity_match_tables(t, rh, dew, ah) -> None:
    assert dew_point(t, rh) == pytest.approx(dew, abs=0.15)
    assert absolute_humidity(t, rh) == pytest.approx(ah, rel=0.01)


@given(st.floats(-45, 60), st.floats(0.01, 100))
def test_dew_point_never_exceeds_temperature(t: float, rh: float) -> None:
    value = dew_point(t, rh)
    assert value is not None and value <= round(t, 2) + 0.01
    assert absolute_humidity(t, rh) >= 0


@pytest.mark.parametrize(
    ("t", "rh"),
    [(None, 50.0), (20.0, None), (20.0, 0.0), (20.0, 100.5), (61.0, 50.0), (-46.0, 50.0)],
)
def test_undefined_inputs_give_none(t, rh) -> None:
    assert dew_point(t, rh) is None
    assert absolute_humidity(t, rh) is None


@pytest.mark.parametrize(
    ("pm25", "co2", "score", "grade"),
    [
        (0.0, 420, 100.0, "excellent"),
        (0.0, 400, 100.0, "excellent"),  # below the clamp
        (60.0, 2300, 0.0, "very poor"),
        (500.0, 40000, 0.0, "very poor"),  # above the clamp
        (11.2, 201, 81.0, "good"),  # the Format 6 / E1 valid vectors
        (30.0, 420, 50.0, "fair"),
        (0.0, 1360, 50.0, "fair"),
        (6.0, 600, 86.0, "good"),
    ],
)
def test_ruuvi_iaqs(pm25, co2, score, grade) -> None:
    assert air_quality_index(pm25, co2) == score
    assert iaqs_grade(score) == grade


def test_iaqs_needs_both_inputs() -> None:
    assert air_quality_index(None, 800) is None
    assert air_quality_index(5.0, None) is None


def test_derived_values_per_format() -> None:
    assert set(derived_values(decode_any_hex(VECTORS["format3_valid"]))) == {
        "dew_point",
        "absolute_humidity",
    }
    assert set(derived_values(decode_any_hex(VECTORS["formatE1_valid"]))) == {
        "dew_point",
        "absolute_humidity",
        "air_quality_index",
    }
    assert derived_values(decode_any_hex(VECTORS["formatE1_invalid"])) == {}
