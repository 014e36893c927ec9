"""How every Nimbus process reaches Temporal: the frontend's address and namespace, with
TLS (and a client certificate) and an API key when the cluster asks for them.

The API, the workers and ``nimbus`` itself connect through ``connect`` (or hand
``options`` to a client they make), so that none of them assumes the Temporal server
runs on its machine: only ``nimbus up`` starts one, and only while
``NIMBUS_TEMPORAL_MANAGED`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.service import TLSConfig

from nimbus.config import Settings
from nimbus.errors import InvalidSpec


def _read(setting: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidSpec(f"{setting}: cannot read {path}: {exc.strerror}") from exc


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The TLS the settings ask for: ``False`` for none."""
    if not settings.temporal_tls:
        if settings.temporal_tls_ca or settings.temporal_tls_cert or settings.temporal_tls_key:
            raise InvalidSpec(
                "NIMBUS_TEMPORAL_TLS_* files are given but NIMBUS_TEMPORAL_TLS is off"
            )
        return False
    cert = _read("NIMBUS_TEMPORAL_TLS_CERT", settings.temporal_tls_cert)
    key = _read("NIMBUS_TEMPORAL_TLS_KEY", settings.temporal_tls_key)
    if (cert is None) != (key is None):
        raise InvalidSpec(
            "a client certificate needs its key: set both NIMBUS_TEMPORAL_TLS_CERT and _KEY"
        )
    return TLSConfig(
        server_root_ca_cert=_read("NIMBUS_TEMPORAL_TLS_CA", settings.temporal_tls_ca),
        client_cert=cert,
        client_private_key=key,
        domain=settings.temporal_tls_server_name or None,
    )


def options(settings: Settings) -> dict[str, Any]:
    """``Client.connect``'s keyword arguments besides the address."""
    return {
        "namespace": settings.temporal_namespace,
        "tls": tls_config(settings),
        "api_key": settings.temporal_api_key or None,
    }


async def connect(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> Client:
    """A client of the cloud's Temporal namespace."""
    return await Client.connect(
        settings.temporal_address, interceptors=list(interceptors), **options(settings)
    )
