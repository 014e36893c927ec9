"""Checks on routes and members before they reach HAProxy's configuration or runtime API.

Every value ends up in a configuration line or a runtime command, so each is held to a
strict shape: nothing with spaces, quotes or separators gets through.
"""

from __future__ import annotations

import ipaddress
import re

from nimbus.errors import InvalidSpec
from paas.router.base import CHECK_TYPES, AppRoute, Member

_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENDPOINT = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def check_app_id(app_id: str) -> str:
    if not _APP_ID.match(app_id):
        raise InvalidSpec(f"invalid app id {app_id!r}")
    return app_id


def check_hostname(hostname: str) -> str:
    """A lower-case DNS name (the router lower-cases the Host header before looking up)."""
    labels = hostname.split(".")
    if len(hostname) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidSpec(f"invalid host name {hostname!r} (lower-case DNS name expected)")
    return hostname


def check_route(route: AppRoute) -> None:
    """``InvalidSpec`` unless every field of the route is well formed."""
    check_app_id(route.app_id)
    if not route.hostnames:
        raise InvalidSpec(f"app {route.app_id} has no host name")
    for hostname in route.hostnames:
        check_hostname(hostname)
    if not 0 < route.port < 65536:
        raise InvalidSpec(f"invalid port {route.port}")
    if route.namespace and not _NAMESPACE.match(route.namespace):
        raise InvalidSpec(f"invalid network namespace {route.namespace!r}")
    if route.health.type not in CHECK_TYPES:
        raise InvalidSpec(f"health check type must be one of {', '.join(CHECK_TYPES)}")
    if not _ENDPOINT.match(route.health.endpoint):
        raise InvalidSpec(f"invalid health check endpoint {route.health.endpoint!r}")


def check_members(members: tuple[Member, ...]) -> None:
    """``InvalidSpec`` for a negative or repeated index or an address that is not IPv4."""
    indexes = [member.index for member in members]
    if len(set(indexes)) != len(indexes) or any(index < 0 for index in indexes):
        raise InvalidSpec(f"member indexes must be distinct and not negative: {indexes}")
    for member in members:
        try:
            ipaddress.IPv4Address(member.address)
        except ValueError as exc:
            raise InvalidSpec(f"invalid member address {member.address!r}") from exc
