import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.lake import offsets


def test_property_key_names_topic_and_group() -> None:
    assert offsets.property_key("t", "g") == "iot-pipeline.kafka-offsets.t.g"


@given(st.dictionaries(st.integers(0, 1000), st.integers(0, 2**62)))
def test_encode_decode_round_trip(values: dict[int, int]) -> None:
    assert offsets.decode(offsets.encode(values)) == values


def test_encoding_is_compact_and_ordered() -> None:
    assert offsets.encode({10: 5, 2: 7}) == '{"2":7,"10":5}'


@pytest.mark.parametrize("bad", ["[]", '{"0": -1}', '{"0": "5"}', '{"0": true}', "nope"])
def test_decode_refuses_what_is_not_offsets(bad: str) -> None:
    with pytest.raises(ValueError):
        offsets.decode(bad)


def test_latest_offsets_takes_the_newest_summary_with_the_key() -> None:
    key = offsets.property_key("t", "g")
    summaries = [
        {"operation": "replace"},  # e.g. a compaction that did not carry them (older version)
        {key: '{"0":10}', "other": "x"},
        {key: '{"0":5}'},
    ]
    assert offsets.latest_offsets(summaries, key) == {0: 10}
    assert offsets.latest_offsets([{"x": "1"}], key) == {}
    assert offsets.latest_offsets([], key) == {}


def test_latest_offsets_ignores_other_groups() -> None:
    summaries = [{offsets.property_key("t", "other"): '{"0":99}'}]
    assert offsets.latest_offsets(summaries, offsets.property_key("t", "g")) == {}


def test_merged_keeps_partitions_we_did_not_archive() -> None:
    assert offsets.merged({0: 5, 1: 7}, {1: 9, 2: 3}) == {0: 5, 1: 9, 2: 3}


def test_stale_partitions_are_those_someone_else_moved() -> None:
    table = {0: 10, 1: 20}
    believed: dict[int, int | None] = {0: 10, 1: 15, 2: None}
    assert offsets.stale_partitions(table, believed, [0, 1, 2]) == {1}
    assert offsets.stale_partitions({**table, 2: 1}, believed, [2]) == {2}


def test_next_offsets_follow_the_last_read() -> None:
    assert offsets.next_offsets({0: 9, 3: 0}) == {0: 10, 3: 1}


def test_lag_counts_unarchived_readings_from_the_low_watermark() -> None:
    watermarks = {0: (0, 100), 1: (50, 60), 2: (0, 10)}
    assert offsets.lag(watermarks, {0: 90, 1: 10, 2: 10}) == 10 + 10 + 0
    assert offsets.lag(watermarks, {}) == 100 + 10 + 10
    assert offsets.lag({0: (0, 5)}, {0: 9}) == 0
