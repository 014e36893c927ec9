"""Identity resources as Keystone v3 shows them (never a password or its hash)."""

from __future__ import annotations

from typing import Any

from api.identity.common import links
from nimbus.db import Domain, Project, Role, User


def domain_view(domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": links("domains", domain.id),
    }


def project_view(project: Project) -> dict[str, Any]:
    """A top-level project: its parent is its domain, as in Keystone."""
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        "parent_id": project.domain_id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": links("projects", project.id),
    }


def user_view(user: User) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "default_project_id": user.default_project_id,
        "password_expires_at": None,
        "options": {},
        "links": links("users", user.id),
    }
    if user.description is not None:
        view["description"] = user.description
    if user.email is not None:
        view["email"] = user.email
    return view


def role_view(role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": links("roles", role.id),
    }
