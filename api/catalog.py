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
]


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).hex


def build_catalog(settings: Settings, project_id: str) -> list[dict[str, Any]]:
    """Keystone v3's catalog: one public, internal and admin endpoint per service."""
    catalog = []
    for kind, name, path in SERVICES:
        url = settings.public_url + path.format(project_id=project_id)
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
        catalog.append({"type": kind, "name": name, "id": _stable_id(kind), "endpoints": endpoints})
    return catalog
