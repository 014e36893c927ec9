"""The cloud on a Temporal cluster it did not start, reached as a managed one is: through
TLS with a client certificate, an API key, and a namespace of its own. HAProxy stands in
front of a Temporal dev server as that cluster's frontend: it ends TLS (requiring a
client certificate signed by the test's CA) and refuses calls without the API key."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from activities.hypervisor.fake import FakeHypervisor
from activities.network.fake import FakeNetworkDriver
from activities.objectstore.fake import FakeObjectStoreAdmin
from activities.storage.fake_block import FakeBlockStore
from launcher.drivers import HostDrivers
from launcher.services import temporal as temporal_service
from launcher.services.process import wait_until
from nimbus import temporal
from nimbus.config import Settings
from nimbus.errors import BackendUnavailable
from tests.conftest import FAKE_CEPH
from tests.support.stack import Stack, make_stack
from tests.support.temporal_server import free_port
from workflows.common import server_workflow_id

API_KEY = "nimbus-test-key"
NAME = "temporal.test"
NAMESPACE = "nimbus-external"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for ``NAME`` and a client certificate, both signed by it."""
    names = ("ca", "ca-key", "server", "server-key", "client", "client-key")
    paths = {n: folder / f"{n}.pem" for n in names}
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=nimbus test CA", "-keyout", str(paths["ca-key"]), "-out", str(paths["ca"]),
    )  # fmt: skip
    for who, subject, extension in (
        ("server", f"/CN={NAME}", f"subjectAltName=DNS:{NAME}"),
        ("client", "/CN=nimbus worker", "extendedKeyUsage=clientAuth"),
    ):
        request = folder / f"{who}.csr"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-keyout", str(paths[f"{who}-key"]), "-out", str(request))  # fmt: skip
        extfile = folder / f"{who}.ext"
        extfile.write_text(extension + "\n")
        _openssl("x509", "-req", "-in", str(request), "-CA", str(paths["ca"]),
                 "-CAkey", str(paths["ca-key"]), "-CAcreateserial", "-days", "2",
                 "-extfile", str(extfile), "-out", str(paths[who]))  # fmt: skip
    return paths


@pytest.fixture(scope="module")
def frontend(
    tmp_path_factory: pytest.TempPathFactory, temporal_address: str
) -> Iterator[tuple[int, dict[str, Path]]]:
    """HAProxy on a free port of 127.0.0.1 as the cluster's TLS frontend; its port and
    the certificates."""
    folder = tmp_path_factory.mktemp("temporal-tls")
    paths = _certificates(folder)
    bundle = folder / "frontend.pem"
    bundle.write_bytes(paths["server"].read_bytes() + paths["server-key"].read_bytes())
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(
        f"""global
    log stderr format raw local0 err
defaults
    mode http
    timeout connect 5s
    timeout client 5m
    timeout server 5m
frontend temporal
    bind 127.0.0.1:{port} ssl crt {bundle} ca-file {paths["ca"]} verify required alpn h2
    http-request deny deny_status 401 unless {{ req.hdr(authorization) -m str "Bearer {API_KEY}" }}
    default_backend dev
backend dev
    server dev {temporal_address} proto h2
"""
    )
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)])
    try:
        assert wait_until(lambda: _listening(port), 10, interval=0.05), "haproxy did not start"
        yield port, paths
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _external(settings: Settings, port: int, paths: dict[str, Path], **kw: object) -> Settings:
    values: dict[str, object] = {
        "temporal_port": port,
        "temporal_managed": False,
        "temporal_tls": True,
        "temporal_tls_ca": str(paths["ca"]),
        "temporal_tls_cert": str(paths["client"]),
        "temporal_tls_key": str(paths["client-key"]),
        "temporal_tls_server_name": NAME,
        "temporal_api_key": API_KEY,
        "temporal_namespace": NAMESPACE,
    }
    values.update(kw)
    return replace(settings, **values)  # type: ignore[arg-type]


async def _register_namespace(settings: Settings) -> None:
    client: Client = await temporal.connect(settings)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=NAMESPACE, workflow_execution_retention_period=timedelta(days=1)
        )
    )


def test_a_boot_runs_through_tls_an_api_key_and_a_namespace_of_its_own(
    frontend: tuple[int, dict[str, Path]], settings: Settings, image_file: Path
) -> None:
    port, paths = frontend
    external = _external(settings, port, paths)
    asyncio.run(_register_namespace(replace(external, temporal_namespace="default")))
    # What `nimbus up` does with an external cluster: check it, add the search attributes.
    deadline = time.monotonic() + 30
    while True:  # a new namespace takes a moment to be served
        try:
            temporal_service.use_external(external)
            break
        except BackendUnavailable:
            assert time.monotonic() < deadline, "the namespace never answered"
            time.sleep(0.5)
    drivers = HostDrivers(
        FakeHypervisor(ceph=FAKE_CEPH),
        FakeBlockStore(),
        FakeNetworkDriver(),
        FakeObjectStoreAdmin(),
    )
    stack: Stack = make_stack(external, drivers, image_file)
    try:
        token = stack.token("alice")
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id(),
                           "networks": "none"}}  # fmt: skip
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
        response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
        assert response.status_code == 202, response.json
        server_id = response.json["server"]["id"]
        stack.finish(server_workflow_id(server_id, "boot"))
        assert stack.server(server_id).status == "ACTIVE"  # type: ignore[union-attr]
    finally:
        stack.worker.stop()
        stack.bridge.close()


@pytest.mark.parametrize(
    "change",
    [
        {"temporal_api_key": "wrong"},
        {"temporal_tls_cert": "", "temporal_tls_key": ""},
        {"temporal_tls": False, "temporal_tls_ca": "", "temporal_tls_cert": "",
         "temporal_tls_key": ""},
    ],
    ids=["wrong-api-key", "no-client-certificate", "no-tls"],
)  # fmt: skip
def test_without_the_key_or_the_certificate_nothing_gets_through(
    frontend: tuple[int, dict[str, Path]], settings: Settings, change: dict[str, object]
) -> None:
    port, paths = frontend
    with pytest.raises(BackendUnavailable):
        temporal_service.use_external(_external(settings, port, paths, **change))
