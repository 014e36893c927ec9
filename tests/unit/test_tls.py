"""HTTPS for the API and the dashboard (``launcher.tls``): the cloud's own CA, made once,
and a server certificate for loopback and the configured hosts that a client trusting the
CA accepts; clouds.yaml names the CA; Prometheus scrapes the API over HTTPS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509

from launcher import bootstrap
from launcher.services.prometheus import prometheus_config
from launcher.tls import RENEW_DAYS, SERVER_DAYS, ensure_certificates
from nimbus.client import tls_verify
from nimbus.config import Settings, load_settings
from tests.support.temporal_server import free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, host_name="cloud1", api_port=free_port())


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(settings: Settings) -> set[str]:
    san = _cert(settings.tls_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return {str(v) for v in san.value.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.value.get_values_for_type(x509.IPAddress)
    }


def test_tls_is_on_by_default_and_the_urls_say_https() -> None:
    assert Settings().public_url.startswith("https://")
    assert Settings().dashboard_url.startswith("https://")
    off = load_settings({"NIMBUS_TLS": "off"})
    assert off.public_url.startswith("http://") and off.api_verify is True


def test_the_ca_and_the_certificate_are_made_once_with_private_keys(settings: Settings) -> None:
    assert ensure_certificates(settings)
    assert not ensure_certificates(settings)
    assert stat.S_IMODE(settings.tls_dir.stat().st_mode) == 0o700
    for key in (settings.tls_ca_key, settings.tls_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    _cert(settings.tls_cert).verify_directly_issued_by(_cert(settings.tls_ca_cert))
    assert _names(settings) >= {"127.0.0.1", "::1", "localhost", "cloud1"}


def test_a_new_host_name_gets_a_new_certificate_from_the_same_ca(settings: Settings) -> None:
    ensure_certificates(settings)
    ca, cert = settings.tls_ca_cert.read_bytes(), settings.tls_cert.read_bytes()
    moved = dataclasses.replace(settings, api_host="10.9.8.7", dashboard_host="nimbus.example")
    assert ensure_certificates(moved)
    assert settings.tls_ca_cert.read_bytes() == ca and settings.tls_cert.read_bytes() != cert
    assert _names(moved) >= {"10.9.8.7", "nimbus.example"}


def test_a_certificate_near_its_end_is_made_again(settings: Settings) -> None:
    ensure_certificates(settings)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=SERVER_DAYS - RENEW_DAYS + 1)
    assert ensure_certificates(settings, now=later)
    assert _cert(settings.tls_cert).not_valid_after_utc > later + dt.timedelta(days=RENEW_DAYS)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https(settings: Settings) -> Iterator[str]:
    """A server on 127.0.0.1 with the cloud's certificate, as gunicorn serves it."""
    ensure_certificates(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    server = ThreadingHTTPServer(("127.0.0.1", settings.api_port), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{settings.api_port}"
    server.shutdown()


def test_a_client_trusting_the_ca_gets_in_and_one_without_it_is_refused(
    settings: Settings, https: str
) -> None:
    assert requests.get(https, verify=settings.api_verify, timeout=10).text == "hello"
    by_name = https.replace("127.0.0.1", "localhost")
    assert requests.get(by_name, verify=settings.api_verify, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https, timeout=10)


def test_clouds_yaml_names_the_ca_and_follows_tls_being_turned_off(settings: Settings) -> None:
    creds = bootstrap.AdminCredentials("admin", "pw-kept", "admin", "p1")
    path = bootstrap.write_clouds_yaml(settings, creds)
    cloud = yaml.safe_load(path.read_text())["clouds"]["nimbus"]
    assert cloud["auth"]["auth_url"] == f"{settings.public_url}/identity/v3"
    assert tls_verify(cloud) == str(settings.tls_ca_cert)
    assert not bootstrap.refresh_clouds_yaml(settings)
    off = dataclasses.replace(settings, tls=False)
    assert bootstrap.refresh_clouds_yaml(off)
    cloud = yaml.safe_load(path.read_text())["clouds"]["nimbus"]
    assert cloud["auth"]["auth_url"].startswith("http://") and "cacert" not in cloud
    assert cloud["auth"]["password"] == "pw-kept" and tls_verify(cloud) is True


def test_prometheus_scrapes_the_api_over_https_trusting_the_ca(settings: Settings) -> None:
    jobs = {j["job_name"]: j for j in prometheus_config(settings)["scrape_configs"]}
    api = jobs["nimbus-api"]
    assert api["scheme"] == "https" and api["tls_config"]["ca_file"] == str(settings.tls_ca_cert)
    assert "scheme" not in jobs["nimbus-worker"]
    plain = prometheus_config(dataclasses.replace(settings, tls=False))["scrape_configs"]
    assert all("scheme" not in job for job in plain)
