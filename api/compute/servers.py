"""Servers: create, list, show, update, delete and actions. Writes start workflows."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from api import deps
from api.compute import (
    boot_volume,
    bp,
    create_schema,
    list_query,
    multi_create,
    server_groups,
    views,
    zones,
)
from api.compute.flavors import get_flavor
from api.compute.keypairs import find_keypair
from api.compute.server_ports import claim_ports, parse_networks, release_claimed
from api.context import RequestContext, current
from api.image.images import find_visible_image
from api.lookup import load_owned
from api.microversion import at_least
from api.policy import allowed, authorize
from api.starting import forget
from api.validation import (
    description_field,
    json_body,
    name_field,
    paginate,
    ref_id,
    require_dict,
)
from nimbus.db import Flavor, Server
from nimbus.errors import Conflict, InvalidSpec, NotFound
from workflows import starter

#: Nova's create fields that Nimbus does not offer: refused clearly, never ignored
#: (``personality``, file injection, is gone from the API itself from 2.57).
_UNSUPPORTED = (
    "block_device_mapping",
    "personality",
)

#: Nova's limit on user data (base64 text).
USER_DATA_MAX = 65535


def load_server(server_id: str, ctx: RequestContext) -> Server:
    """The server if the caller may see it; another project's server is 404, as in Nova."""
    return load_owned(Server, server_id, ctx, "compute:servers:all_projects", "Instance")


def user_data_field(spec: dict[str, Any]) -> str | None:
    """The user data, base64 as Nova takes it; 400 if it is not base64 or too long."""
    value = spec.get("user_data")
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > USER_DATA_MAX:
        raise InvalidSpec(f"'user_data' must be base64 text of at most {USER_DATA_MAX} bytes.")
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise InvalidSpec("User data needs to be valid base 64.") from exc
    return value


def key_name_field(spec: dict[str, Any]) -> str | None:
    value = spec.get("key_name")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidSpec("Invalid key_name provided.")
    return value


def key_data_for(ctx: RequestContext, name: str | None) -> str | None:
    """The public key of the caller's key pair ``name``; 400 if it has none by that name."""
    if name is None:
        return None
    key = find_keypair(ctx.user_id, name)
    if key is None:
        raise InvalidSpec("Invalid key_name provided.")
    return key.public_key


def _validated_create(body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    spec = require_dict(body, "server", "server")
    create_schema.check_keys(body, spec)
    for key in _UNSUPPORTED:
        if spec.get(key) not in (None, "", [], False):
            raise InvalidSpec(f"'{key}' is not supported by this cloud.")
    create_schema.trusted_certificates(spec)
    root = boot_volume.parse(spec)
    zone, forced_host = zones.requested_zone(spec, ctx)
    low, high = multi_create.counts(spec)
    metadata = server_metadata.check_metadata(spec.get("metadata") or {})
    networks = parse_networks(spec.get("networks"))
    multi_create.reject_ports_with_many(networks, high)
    return {
        "name": name_field(spec),
        "description": description_field(spec),
        "flavor_id": ref_id(spec.get("flavorRef"), "flavorRef"),
        "image_id": "" if root else ref_id(spec.get("imageRef"), "imageRef"),
        "root": root,
        "metadata": metadata,
        "user_data": user_data_field(spec),
        "networks": networks,
        "security_groups": spec.get("security_groups"),
        "key_name": key_name_field(spec),
        "counts": (low, high),
        "return_reservation_id": spec.get("return_reservation_id") in (True, "True", "true"),
        "tags": server_tags.check_tags(spec["tags"]) if "tags" in spec else [],
        "host": create_schema.requested_host(spec, ctx) or forced_host,
        "zone": zone,
        "group": server_groups.requested_group(body, ctx),
    }


def _idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, of at most 255 characters (the column's)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and len(key) > 255:
        raise InvalidSpec("The Idempotency-Key header takes at most 255 characters.")
    return key


def _earlier(ctx: RequestContext, key: str | None) -> list[Server]:
    """The servers an earlier request with this Idempotency-Key made (first one first)."""
    if not key:
        return []
    with deps.db().session() as s:
        first = s.scalars(
            select(Server).where(Server.project_id == ctx.project_id, Server.idempotency_key == key)
        ).first()
        if first is None or first.reservation_id is None:
            return [first] if first is not None else []
        return list(
            s.scalars(
                select(Server)
                .where(Server.reservation_id == first.reservation_id)
                .order_by(Server.idempotency_key.is_(None), Server.name)
            )
        )


def _insert(
    ctx: RequestContext,
    fields: dict[str, Any],
    flavor: Flavor,
    key: str | None,
    root: boot_volume.RootPlan | None,
) -> tuple[list[Server], bool]:
    """Insert the BUILD rows, as many as the project's quota allows between min_count and
    max_count; with an Idempotency-Key, return the earlier request's servers instead (a
    retry is never refused). The first server carries the key."""
    earlier = _earlier(ctx, key)
    if earlier:
        return earlier, False
    reservation = multi_create.reservation_id()
    try:
        with deps.db().session() as s:
            n = multi_create.fit(s, ctx.project_id, flavor, *fields["counts"])
            servers = [
                Server(
                    project_id=ctx.project_id,
                    user_id=ctx.user_id,
                    name=name,
                    description=fields["description"],
                    flavor_id=fields["flavor_id"],
                    image_id=fields["image_id"],
                    metadata_=fields["metadata"],
                    user_data=fields["user_data"],
                    key_name=fields["key_name"],
                    key_data=fields["key_data"],
                    idempotency_key=key if i == 0 else None,
                    reservation_id=reservation,
                    tags=fields["tags"],
                    host=fields["host"],
                    availability_zone=fields["zone"],
                    status="BUILD",
                    task_state="scheduling",
                )
                for i, name in enumerate(multi_create.names(fields["name"], n))
            ]
            if root is not None:
                boot_volume.charge(s, ctx.project_id, root, n)
                for server in servers:
                    boot_volume.reserve(s, ctx, root, server)
            s.add_all(servers)
            if fields["group"] is not None:
                s.flush()
                server_groups.join(s, fields["group"], servers)
    except IntegrityError as exc:
        raise Conflict("A server with this Idempotency-Key is being created.") from exc
    return servers, True


def _boot(project_id: str, server: Server) -> Callable[[Client], Awaitable[Any]]:
    if server.root_volume:
        boot = boot_volume.boot_input(server)
        return lambda c: starter.start_volume_boot(c, project_id, boot)
    return lambda c: starter.start_boot(c, project_id, server.id)


def _start(ctx: RequestContext, fields: dict[str, Any], servers: list[Server], new: bool) -> None:
    """Claim each server's ports and start its boot; a server whose boot could not start
    is removed again with its ports (those already started go on)."""
    for server in servers:
        try:
            if new:
                claim_ports(server.id, fields["networks"], fields["security_groups"], ctx)
            deps.bridge().run(_boot(ctx.project_id, server))
        except Exception:
            if new:
                for left in servers[servers.index(server) :]:
                    release_claimed(left.id)
                    boot_volume.unreserve(left)
                    forget(Server, left.id)
            raise


def _check_image(image_id: str, flavor: Flavor, ctx: RequestContext) -> None:
    try:
        image = find_visible_image(image_id, ctx)
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from exc
    if image.status != "active":
        raise InvalidSpec(f"Image {image.id} is not active.")
    if image.min_ram > flavor.ram or image.min_disk > flavor.disk > 0:
        raise InvalidSpec(f"Flavor {flavor.name} is too small for image {image.id}.")


@bp.post("/v2.1/servers")
def create_server() -> tuple[Response, int]:
    ctx = current()
    authorize(ctx, "compute:servers:create")
    fields = _validated_create(json_body(), ctx)
    try:
        flavor = get_flavor(fields["flavor_id"])
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from exc  # Nova: a reference it cannot find is a 400
    if fields["root"] is None:
        _check_image(fields["image_id"], flavor, ctx)
        root = None
    else:
        root = boot_volume.check(fields["root"], ctx, flavor, fields["counts"][1])
    fields["key_data"] = key_data_for(ctx, fields["key_name"])
    key = _idempotency_key()
    servers, created = _insert(ctx, fields, flavor, key, root)
    _start(ctx, fields, servers, created)
    if fields["return_reservation_id"]:
        return jsonify({"reservation_id": servers[0].reservation_id}), 202
    server = servers[0]
    body = {
        "id": server.id,
        "links": views.server_links(server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": views.server_security_groups(server.id),
    }  # no adminPass: no password is set in the guest (Nova's enable_instance_password off)
    return jsonify({"server": body}), 202


def _visible(ctx: RequestContext) -> list[Server]:
    """The servers a list shows, filtered as Nova filters (see ``list_query``)."""
    args = request.args
    wanted = list_query.parse(args, allowed(ctx, "compute:servers:all_projects"))
    if wanted.nothing:
        return []
    query = select(Server).order_by(Server.created_at.desc())
    if not wanted.with_deleted:
        query = query.where(Server.deleted_at.is_(None))
    flag = args.get("all_tenants", args.get("all_projects"))
    if flag is not None and flag.lower() not in ("0", "false", "no", "off"):
        authorize(ctx, "compute:servers:all_projects")
    else:
        query = query.where(Server.project_id == ctx.project_id)
    if args.get("project_id") or args.get("tenant_id"):
        query = query.where(Server.project_id == (args.get("project_id") or args.get("tenant_id")))
    if wanted.statuses is not None and wanted.statuses != {"DELETED"}:
        query = query.where(Server.status.in_(wanted.statuses))
    if wanted.statuses == {"DELETED"}:
        query = query.where(Server.deleted_at.is_not(None))
    if wanted.since is not None:
        query = query.where(Server.updated_at >= wanted.since)
    if wanted.before is not None:
        query = query.where(Server.updated_at <= wanted.before)
    if wanted.locked is not None:
        query = query.where(Server.locked.is_(True) if wanted.locked else ~Server.locked.is_(True))
    if args.get("reservation_id"):
        query = query.where(Server.reservation_id == args["reservation_id"])
    with deps.db().session() as s:
        servers = list(s.scalars(query))
    if args.get("name"):
        servers = [x for x in servers if _name_matches(args["name"], x.name)]
    if at_least("2.26"):
        servers = [x for x in servers if _tags_match(args, set(x.tags or []))]
    return paginate(servers, [x.id for x in servers], args.get("marker"), args.get("limit"))


#: Nova's tag filters (2.26): each a comma-separated list, tested against a server's tags.
_TAG_FILTERS: dict[str, Callable[[set[str], set[str]], bool]] = {
    "tags": lambda wanted, tags: wanted <= tags,
    "tags-any": lambda wanted, tags: bool(wanted & tags),
    "not-tags": lambda wanted, tags: not wanted <= tags,
    "not-tags-any": lambda wanted, tags: not wanted & tags,
}


def _tags_match(args: Any, tags: set[str]) -> bool:
    for name, test in _TAG_FILTERS.items():
        value = args.get(name)
        if value and not test({t for t in value.split(",") if t}, tags):
            return False
    return True


def _name_matches(pattern: str, name: str) -> bool:
    """Nova matches the name filter as a regular expression; a bad one matches literally."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern in name


@bp.get("/v2.1/servers")
def list_servers() -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:list")
    return jsonify({"servers": [views.brief(x) for x in _visible(ctx)]})


@bp.get("/v2.1/servers/detail")
def list_servers_detail() -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:list")
    return jsonify({"servers": [views.detail(x, ctx) for x in _visible(ctx)]})


@bp.get("/v2.1/servers/<server_id>")
def show_server(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:show")
    return jsonify({"server": views.full(load_server(server_id, ctx), ctx)})


@bp.put("/v2.1/servers/<server_id>")
def update_server(server_id: str) -> Response:
    ctx = current()
    authorize(ctx, "compute:servers:update")
    spec = require_dict(json_body(), "server", "server")
    updatable = {"name", "description"} if at_least("2.19") else {"name"}
    unknown = set(spec) - updatable
    if unknown:
        raise InvalidSpec(
            f"Only {' and '.join(sorted(updatable))} can be updated,"
            f" not {', '.join(sorted(unknown))}."
        )
    name = name_field(spec) if "name" in spec or not at_least("2.19") else None
    description = description_field(spec)
    load_server(server_id, ctx)
    with deps.db().session() as s:
        server = s.get(Server, server_id)
        assert server is not None
        if name is not None:
            server.name = name
        if "description" in spec:
            server.description = description
    return jsonify({"server": views.full(load_server(server_id, ctx), ctx)})


@bp.delete("/v2.1/servers/<server_id>")
def delete_server(server_id: str) -> tuple[str, int]:
    ctx = current()
    authorize(ctx, "compute:servers:delete")
    server = load_server(server_id, ctx)
    if server.locked and not allowed(ctx, "compute:servers:unlock_any"):
        raise Conflict(f"Instance {server_id} is locked")
    previous = set_task_state(server_id, "deleting")
    try:
        deps.bridge().run(lambda c: starter.start_delete(c, server.project_id, server_id))
    except Exception:
        if previous != "deleting":
            set_task_state(server_id, previous, expect="deleting")
        raise
    return "", 204


def set_task_state(server_id: str, task: str | None, expect: str | None = None) -> str | None:
    """Set the server's task state (only if it is ``expect``, when given); return the old."""
    with deps.db().session() as s:
        row = s.get(Server, server_id)
        if row is None or (expect is not None and row.task_state != expect):
            return None
        previous, row.task_state = row.task_state, task
        return previous


from api.compute import (  # noqa: E402,F401  (routes on bp)
    actions,
    instance_actions,
    interface_attach,
    interfaces,
    server_metadata,
    server_security_groups,
    server_tags,
    volume_attachments,
)
