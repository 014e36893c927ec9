"""Identity, Keystone v3 shape, under ``/identity``: version documents, password tokens,
and the admin API (domains, projects, users, roles, role assignments, and the service
catalog as services, endpoints and regions).

Identity writes touch no infrastructure, so they change the database directly instead of
running a workflow. Every route but the public ones (version documents, token issue) authenticates
here; each view then calls ``authorize`` with its own action.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from api import deps
from api.context import admit
from api.errors import PayloadTooLarge

bp = Blueprint("identity", __name__)


@bp.before_request
def _authenticate() -> None:
    # A body is refused by size before anything else, on routes that never read it too.
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    admit(deps.db())


from api.identity import (  # noqa: E402,F401  (routes register on bp)
    application_credentials,
    assignments,
    domains,
    ec2_credentials,
    projects,
    roles,
    services,
    tokens,
    users,
    versions,
)
