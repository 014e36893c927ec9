"""Server actions (``POST /servers/<id>/action``): console output, start, stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from api import deps
from api.compute import (
    bp,
    lock_reboot,
    migrations,
    rebuild,
    resize,
    server_security_groups,
    state_actions,
)
from api.compute.flavors import flavor_of_server
from api.compute.servers import load_server, set_task_state
from api.context import RequestContext, current
from api.microversion import at_least
from api.policy import authorize
from api.starting import add_and_start
from api.validation import json_body, name_field
from nimbus.db import Image, Server
from nimbus.errors import Conflict, InvalidSpec
from workflows import starter


def _console(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    authorize(ctx, "compute:servers:console")
    length = (args or {}).get("length") if isinstance(args, dict) else None
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError) as exc:
            raise InvalidSpec("'length' must be an integer") from exc
        if length < -1:
            raise InvalidSpec("'length' must be -1 or more")
    lines = None if length in (None, -1) else length
    if not server.host:
        return jsonify({"output": ""}), 200
    output = deps.bridge().run(
        lambda c: starter.console_output(c, server.project_id, server.id, server.host or "", lines)
    )
    return jsonify({"output": output}), 200


def _power(on: bool) -> Callable[[Server, RequestContext, Any], tuple[Response, int]]:
    needed, task = ("SHUTOFF", "powering-on") if on else ("ACTIVE", "powering-off")

    def act(server: Server, ctx: RequestContext, _args: Any) -> tuple[Response, int]:
        authorize(ctx, "compute:servers:power")
        with deps.db().session() as s:
            row = s.get(Server, server.id)
            if row is None or row.status != needed or row.task_state is not None:
                state = f"{row.status}/{row.task_state}" if row else "gone"
                raise Conflict(
                    f"Cannot '{'start' if on else 'stop'}' instance {server.id} while"
                    f" it is in vm_state {state}"
                )
            row.task_state = task
        host = server.host or ""
        try:
            deps.bridge().run(
                lambda c: starter.start_power(c, server.project_id, server.id, host, on)
            )
        except Exception:
            set_task_state(server.id, None, expect=task)
            raise
        return Response(status=202), 202

    return act


def _create_image(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    """Nova's createImage: a new private image from the server's disk, made by a workflow;
    the image is ``saving`` until it is ready. Until 2.44 its address comes back in the
    ``Location`` header, from 2.45 its id in the body."""
    authorize(ctx, "compute:servers:create_image")
    spec = args if isinstance(args, dict) else {}
    name = name_field(spec, "name", "createImage.name")
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidSpec("'metadata' must map strings to strings.")
    if server.status not in ("ACTIVE", "SHUTOFF") or server.task_state or not server.host:
        raise Conflict(
            f"Cannot 'createImage' instance {server.id} while it is"
            f" {server.status}/{server.task_state}."
        )
    if server.root_volume:
        raise Conflict(
            f"Cannot 'createImage' instance {server.id}: it is volume-backed; snapshot"
            " its root volume with the block storage API instead."
        )
    flavor = flavor_of_server(server)
    properties = {
        **metadata,
        "image_type": "snapshot",
        "instance_uuid": server.id,
        "base_image_ref": server.image_id,
    }
    image = Image(
        name=name,
        owner=ctx.project_id,
        status="saving",
        visibility="private",
        disk_format="raw",
        container_format="bare",
        min_disk=flavor.disk,
        tags=[],
        properties=properties,
    )
    host = server.host
    add_and_start(
        image, lambda c: starter.create_server_image(c, ctx.project_id, server.id, image.id, host)
    )
    if at_least("2.45"):
        return jsonify({"image_id": image.id}), 202
    location = f"{deps.settings().public_url}/image/v2/images/{image.id}"
    return Response(status=202, headers={"Location": location}), 202


#: Where Nova lets a crash dump be asked for (2.17).
_CRASH_DUMP_STATES = {"ACTIVE", "PAUSED", "RESCUE", "VERIFY_RESIZE", "ERROR"}


def _crash_dump(server: Server, ctx: RequestContext, args: Any) -> tuple[Response, int]:
    """2.17's trigger_crash_dump. Nimbus's host agent has no way to inject an NMI into a
    guest, so a server that could take one gets the error Nova gives for a hypervisor
    without NMI support; the checks before it are Nova's."""
    authorize(ctx, "compute:servers:crash_dump")
    if args is not None:
        raise InvalidSpec("'trigger_crash_dump' takes null")
    if server.status not in _CRASH_DUMP_STATES or server.task_state is not None:
        raise Conflict(
            f"Cannot 'trigger_crash_dump' instance {server.id} while it is in"
            f" vm_state {server.status}/{server.task_state}"
        )
    raise InvalidSpec("Inject NMI is not supported.")


_ACTIONS = {
    "os-getConsoleOutput": _console,
    "createImage": _create_image,
    "os-start": _power(True),
    "os-stop": _power(False),
    "reboot": lock_reboot.reboot,
    "lock": lock_reboot.lock,
    "unlock": lock_reboot.unlock,
    **{name: state_actions.action(name) for name in ("pause", "unpause", "suspend", "resume")},
    "rebuild": rebuild.rebuild,
    "resize": resize.resize,
    "confirmResize": resize.confirm,
    "revertResize": resize.revert,
    "migrate": migrations.migrate,
    "evacuate": migrations.evacuate,
    "addSecurityGroup": server_security_groups.add_security_group,
    "removeSecurityGroup": server_security_groups.remove_security_group,
    "trigger_crash_dump": _crash_dump,
}

#: Actions that exist only from a microversion on; below it they are unknown.
_SINCE = {"trigger_crash_dump": "2.17"}

#: What a locked server still allows (reads, and the lock itself).
_LOCK_FREE = {"os-getConsoleOutput", "lock", "unlock", "createImage", "evacuate"}


@bp.post("/v2.1/servers/<server_id>/action")
def server_action(server_id: str) -> Any:
    body = json_body()
    known = [name for name in _ACTIONS if name not in _SINCE or at_least(_SINCE[name])]
    if len(body) != 1 or next(iter(body)) not in known:
        raise InvalidSpec(
            f"Unsupported action: {', '.join(body) or 'none'}. Supported: {', '.join(known)}."
        )
    name, args = next(iter(body.items()))
    ctx = current()
    server = load_server(server_id, ctx)
    if name not in _LOCK_FREE:
        lock_reboot.check_unlocked(server, ctx)
    return _ACTIONS[name](server, ctx, args)
