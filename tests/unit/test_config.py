from __future__ import annotations

from pathlib import Path

from nimbus.config import Settings, load_settings, settings_env


def test_environment_overrides_defaults() -> None:
    s = load_settings({"NIMBUS_API_PORT": "9999", "NIMBUS_DATA_DIR": "/srv/nimbus"})
    assert s.api_port == 9999 and s.data_dir == Path("/srv/nimbus")
    assert s.public_url == "https://127.0.0.1:9999"


def test_relative_data_dir_is_made_absolute() -> None:
    assert load_settings({"NIMBUS_DATA_DIR": "rel"}).data_dir.is_absolute()


def test_settings_round_trip_through_a_child_environment() -> None:
    s = Settings(data_dir=Path("/x"), api_port=1234, instance_prefix="t-")
    assert load_settings(settings_env(s)) == s
