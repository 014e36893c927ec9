"""The metadata service at 169.254.169.254, as Nova serves it to guests.

A guest's request reaches this app only through its network's metadata proxy (HAProxy in
the network's DHCP namespace, see ``activities.network.metadata_proxy``), over a unix
socket that nothing on a tenant network can reach. The proxy sets ``X-Nimbus-Network-ID``
and replaces ``X-Forwarded-For`` with the guest's source address; those two name the one
server the answer is about, so a server learns about itself and nothing else. This is a
WSGI app of its own on its own socket: no REST API route is reachable here, and the REST
API trusts no such header.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, current_app, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from activities.records import public_keys
from api.metadata import documents
from api.metadata.lookup import Asker, find_asker
from nimbus.config import Settings
from nimbus.db import Database

NETWORK_HEADER = "X-Nimbus-Network-ID"


def create_metadata_app(settings: Settings, db: Database | None = None) -> Flask:
    """The metadata app; ``db`` defaults to the configured database."""
    app = Flask("nimbus-metadata")
    app.extensions["nimbus"] = {"db": db or Database(settings.db_url), "settings": settings}
    app.register_error_handler(HTTPException, _plain_error)
    rules: dict[str, Callable[..., Response]] = {
        "/": _ec2_versions,
        "/openstack": _openstack_versions,
        "/openstack/<version>": _openstack_listing,
        "/openstack/<version>/<name>": _openstack_item,
        "/<version>": _ec2_version,
        "/<version>/user-data": _ec2_user_data,
        "/<version>/meta-data": _ec2_item,
        "/<version>/meta-data/<path:path>": _ec2_item,
    }
    for rule, view in rules.items():
        app.add_url_rule(rule, view_func=view, strict_slashes=False)
    return app


def _plain_error(error: HTTPException) -> Response:
    body = f"{error.code} {error.name}\n\n{error.description}\n"
    return Response(body, error.code or 500, mimetype="text/plain")


def _text(body: str | bytes, mimetype: str = "text/plain") -> Response:
    return Response(body, 200, mimetype=mimetype)


def _vouched() -> tuple[str, str]:
    """The network and guest address the proxy vouched for; 400 if either is malformed."""
    network_id = request.headers.get(NETWORK_HEADER, "")
    address = request.headers.get("X-Forwarded-For", "").strip()
    try:
        uuid.UUID(network_id)
        ipaddress.ip_address(address)
    except ValueError:
        raise BadRequest("The request did not come through a network's metadata proxy.") from None
    return network_id, address


@contextmanager
def _asking() -> Iterator[tuple[Session, Asker]]:
    """The server asking, in a session; 404 when the address is no server's."""
    network_id, address = _vouched()
    db: Database = current_app.extensions["nimbus"]["db"]
    with db.session() as s:
        asker = find_asker(s, network_id, address)
        if asker is None:
            raise NotFound(f"No server has the address {address} on this network.")
        yield s, asker


def _check_version(version: str, known: tuple[str, ...]) -> None:
    if version not in known:
        raise NotFound(f"Unknown metadata version {version!r}.")


def _ec2_versions() -> Response:
    with _asking():
        return _text("\n".join(documents.EC2_VERSIONS))


def _openstack_versions() -> Response:
    with _asking():
        return _text("\n".join(documents.OPENSTACK_VERSIONS))


def _openstack_listing(version: str) -> Response:
    _check_version(version, documents.OPENSTACK_VERSIONS)
    with _asking() as (_s, asker):
        return _text("\n".join(documents.openstack_listing(asker)))


def _openstack_item(version: str, name: str) -> Response:
    _check_version(version, documents.OPENSTACK_VERSIONS)
    with _asking() as (s, asker):
        if name == "user_data":
            data = documents.user_data(asker)
            if data is None:
                raise NotFound("This server has no user data.")
            return _text(data, "application/octet-stream")
        if name == "password":
            return _text("")
        document = documents.openstack_document(s, asker, name)
        if document is None:
            raise NotFound(f"No document {name!r}.")
        return _text(json.dumps(document), "application/json")


def _ec2_version(version: str) -> Response:
    _check_version(version, documents.EC2_VERSIONS)
    with _asking() as (_s, asker):
        return _text("meta-data/\nuser-data" if asker.server.user_data else "meta-data/")


def _ec2_user_data(version: str) -> Response:
    _check_version(version, documents.EC2_VERSIONS)
    with _asking() as (_s, asker):
        data = documents.user_data(asker)
        if data is None:
            raise NotFound("This server has no user data.")
        return _text(data, "application/octet-stream")


def _ec2_item(version: str, path: str = "") -> Response:
    _check_version(version, documents.EC2_VERSIONS)
    with _asking() as (s, asker):
        node: documents.Tree | str = documents.ec2_tree(s, asker)
        parts = [part for part in path.split("/") if part]
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise NotFound(f"No metadata item {path!r}.")
            node = node[part]
        if isinstance(node, dict):
            return _text(documents.ec2_listing(node, parts, public_keys(asker.server)))
        return _text(node)
