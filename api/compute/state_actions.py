"""Server actions ``pause``, ``unpause``, ``suspend`` and ``resume``: each a workflow
(``ChangeServerState``) from the states Nova allows, with its task state meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response

from api import deps
from api.compute.servers import set_task_state
from api.context import RequestContext
from api.policy import authorize
from nimbus.db import Server
from nimbus.errors import Conflict
from workflows import starter
from workflows.server_state import TASKS, StateInput

#: action -> (the statuses it starts from, its task state)
_FROM = {
    "pause": (("ACTIVE",), TASKS["pause"]),
    "unpause": (("PAUSED",), TASKS["unpause"]),
    "suspend": (("ACTIVE", "PAUSED"), TASKS["suspend"]),
    "resume": (("SUSPENDED",), TASKS["resume"]),
}

Action = Callable[[Server, RequestContext, Any], tuple[Response, int]]


def action(name: str) -> Action:
    froms, task = _FROM[name]

    def act(server: Server, ctx: RequestContext, _args: Any) -> tuple[Response, int]:
        authorize(ctx, "compute:servers:power")
        with deps.db().session() as s:
            row = s.get(Server, server.id)
            if row is None or row.status not in froms or row.task_state or not row.host:
                state = f"{row.status}/{row.task_state}" if row else "gone"
                raise Conflict(
                    f"Cannot '{name}' instance {server.id} while it is in vm_state {state}"
                )
            row.task_state = task
            inp = StateInput(server.id, row.host, name, row.status, row.power_state)
        try:
            deps.bridge().run(lambda c: starter.start_state_change(c, server.project_id, inp))
        except Exception:
            set_task_state(server.id, None, expect=task)
            raise
        return Response(status=202), 202

    return act
