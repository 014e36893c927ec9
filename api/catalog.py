"""The service catalog carried in every token: where each service's API lives."""

from __future__ import annotations

import uuid
from typing import Any

from nimbus.config import Settings

#: (type, name, path under the public URL; {project_id} is filled in).
SERVICES = [
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/networking"),
    ("block-storage", "cinderv3", "/volume/v3/{project_id}"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("volume", "cinderv3", "/volume/v3/{project_id}"),
    ("paas", "nimbus-paas", "/paas/v1"),
    ("operations", "nimbus-operations", "/operations/v1"),
]


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).hex


def build_catalog(settings: Settings, project_id: str) -> list[dict[str, Any]]:
    """Keystone v3's catalog: one public, internal and admin endpoint per service; the
    object store (the RADOS Gateway's Swift, account ``AUTH_<project>``) where there is one."""
    catalog = [
        _service(settings, kind, name, settings.public_url + path.format(project_id=project_id))
        for kind, name, path in SERVICES
    ]
    if settings.object_store_endpoint:
        url = f"{settings.object_store_endpoint}/AUTH_{project_id}"
        catalog.append(_service(settings, "object-store", "swift", url))
    return catalog


def _service(settings: Settings, kind: str, name: str, url: str) -> dict[str, Any]:
    endpoints = [
        {
            "id": _stable_id(kind, interface),
            "interface": interface,
            "region_id": settings.region,
            "region": settings.region,
            "url": url,
        }
        for interface in ("public", "internal", "admin")
    ]
    return {"type": kind, "name": name, "id": _stable_id(kind), "endpoints": endpoints}
