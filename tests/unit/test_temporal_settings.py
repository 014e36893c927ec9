"""How the settings become Temporal client options (``nimbus.temporal``): TLS only when
asked, every file read, and a clear error for an incomplete or unreadable setting; and
the settings the cloud's Temporal server (and the tests' one) starts with."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from launcher.services import temporal
from nimbus.config import Settings, load_settings, settings_env
from nimbus.errors import InvalidSpec
from nimbus.temporal import options


def test_plain_by_default_and_no_api_key() -> None:
    assert options(Settings()) == {"namespace": "default", "tls": False, "api_key": None}


def test_tls_reads_the_ca_client_certificate_and_key(tmp_path: Path) -> None:
    for name in ("ca", "cert", "key"):
        (tmp_path / name).write_bytes(name.encode())
    env = {
        "NIMBUS_TEMPORAL_TLS": "on",
        "NIMBUS_TEMPORAL_TLS_CA": str(tmp_path / "ca"),
        "NIMBUS_TEMPORAL_TLS_CERT": str(tmp_path / "cert"),
        "NIMBUS_TEMPORAL_TLS_KEY": str(tmp_path / "key"),
        "NIMBUS_TEMPORAL_TLS_SERVER_NAME": "frontend.example",
        "NIMBUS_TEMPORAL_API_KEY": "k",
        "NIMBUS_TEMPORAL_NAMESPACE": "cloud",
        "NIMBUS_TEMPORAL_MANAGED": "off",
    }
    settings = load_settings(env)
    found = options(settings)
    assert found["tls"] == TLSConfig(
        server_root_ca_cert=b"ca", client_cert=b"cert", client_private_key=b"key",
        domain="frontend.example",
    )  # fmt: skip
    assert (found["namespace"], found["api_key"]) == ("cloud", "k")
    assert settings.temporal_managed is False
    # A child process started with the settings' variables gets the same options.
    assert options(load_settings(settings_env(settings))) == found


def test_tls_without_a_ca_trusts_the_systems_roots() -> None:
    found = options(Settings(temporal_tls=True))
    assert found["tls"] == TLSConfig()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temporal_tls": True, "temporal_tls_cert": "c"}, "needs its key"),
        ({"temporal_tls": True, "temporal_tls_ca": "/nonexistent/ca.pem"}, "cannot read"),
        ({"temporal_tls_ca": "/etc/ssl/ca.pem"}, "NIMBUS_TEMPORAL_TLS is off"),
    ],
)
def test_an_incomplete_or_unreadable_setting_is_a_clear_error(
    values: dict[str, object], message: str, tmp_path: Path
) -> None:
    if values.get("temporal_tls_cert") == "c":
        (tmp_path / "c").write_text("cert")
        values = {**values, "temporal_tls_cert": str(tmp_path / "c")}
    with pytest.raises(InvalidSpec, match=message):
        options(Settings(**values))  # type: ignore[arg-type]


def test_prometheus_scrapes_only_the_temporal_server_nimbus_runs() -> None:
    from launcher.services.prometheus import scrape_targets

    assert "temporal" in scrape_targets(Settings())
    assert "temporal" not in scrape_targets(Settings(temporal_managed=False))


def test_the_queue_settings_are_keys_the_server_knows() -> None:
    """The server takes any ``--dynamic-config-value`` key and ignores one it does not
    know: a misspelt key would silently leave every task waiting for the default 20
    loads a second, or written to four partitions. Each key must be one the installed
    server's binary holds."""
    argv = temporal.argv(Settings(data_dir=Path("/x")))
    values = [argv[i + 1] for i, flag in enumerate(argv) if flag == "--dynamic-config-value"]
    expected = {
        "history.transferProcessorMaxPollRPS": temporal.QUEUE_READS_PER_SECOND,
        "history.timerProcessorMaxPollRPS": temporal.QUEUE_READS_PER_SECOND,
        "history.visibilityProcessorMaxPollRPS": temporal.QUEUE_READS_PER_SECOND,
        "matching.numTaskqueueWritePartitions": temporal.WRITE_PARTITIONS,
    }
    assert {key: int(number) for key, number in (v.split("=") for v in values)} == expected
    with (
        temporal.temporal_binary().open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as binary,
    ):
        for key in expected:
            assert binary.find(key.encode()) >= 0, key
