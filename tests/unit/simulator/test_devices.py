import pytest

from iot_pipeline.simulator.devices import DeviceFileError, load_devices, parse_devices


def test_yaml_file_with_per_device_intervals(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text(
        "devices:\n"
        "  - {device_id: freezer-1, device_type: temperature, interval_sec: 5,\n"
        "     location: {latitude: 60.1, longitude: 24.9, building: HQ, floor: -1}}\n"
        "  - {device_id: door-1, device_type: motion}\n"
    )
    freezer, door = load_devices(path, default_interval_sec=1.0)
    assert freezer.interval_sec == 5
    assert freezer.location is not None and freezer.location.floor == -1
    assert door.interval_sec == 1.0
    assert door.location is None


def test_json_list_is_accepted(tmp_path):
    path = tmp_path / "devices.json"
    path.write_text('[{"device_id": "l1", "device_type": "light"}]')
    assert load_devices(path, 2.0)[0].device_type == "light"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "non-empty"),
        ([{"device_id": "x", "device_type": "plasma"}], "unknown device type"),
        ([{"device_id": "x", "device_type": "light", "colour": "red"}], "device #1"),
        ([{"device_id": "x", "device_type": "light"}] * 2, "unique"),
        ([{"device_id": "x", "device_type": "light", "interval_sec": -1}], "device #1"),
    ],
)
def test_invalid_documents_are_clear_errors(document, message):
    with pytest.raises(DeviceFileError, match=message):
        parse_devices(document, 1.0)


def test_unreadable_file(tmp_path):
    with pytest.raises(DeviceFileError, match="cannot read"):
        load_devices(tmp_path / "missing.yaml", 1.0)
