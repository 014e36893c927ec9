"""Block storage, Cinder v3 shape: volumes, snapshots and types, under ``/v3/<project>``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import deps
from api.context import admit, public
from api.errors import Forbidden
from api.microversion import APIVersion, VersionRange, bind, current

bp = Blueprint("volume", __name__)

MIN_VERSION = "3.0"
# What each microversion changes here. Served: 3.2 strict ``bootable`` filter, 3.3/3.5
# /messages, 3.4 ``glance_metadata`` filter, 3.10 ``group_id`` filter (no volume is in a
# group), 3.12/3.36 /volumes/summary, 3.13 ``group_id`` and 3.14 ``group_snapshot_id`` in
# details (always null), 3.15 ETags on volume metadata, 3.21 admins' ``provider_id``, 3.22
# snapshot ``metadata`` filter, 3.23 ``force`` on delete (admins only), 3.27/3.44/3.54
# /attachments (reads; writes refused, see attachments.py), 3.34 ``key~`` filters, 3.40
# revert to the latest snapshot, 3.41 snapshot ``user_id``, 3.45 ``count``, 3.48
# ``shared_targets``/``service_uuid``, 3.53 strict volume create/update bodies, 3.55
# ``no_snapshots``, 3.52 volume type ``extra_specs`` filter, 3.57 transfer history
# fields and 3.59 transfer paging.
# Nothing changes, as Nimbus does not serve the resource: 3.1 (os-volume_upload_image),
# 3.6, 3.11, 3.13/3.14 (group and group snapshot APIs), 3.19, 3.20, 3.25, 3.29, 3.38, 3.58
# (groups), 3.7, 3.24, 3.26, 3.32, 3.49 (clusters, workers, services, replication), 3.8,
# 3.16, 3.17 (manageable volumes, migration), 3.9, 3.18, 3.37, 3.43, 3.47, 3.51, 3.56
# (backups), 3.28, 3.35 (pools), 3.39 (limits are the caller's project's), 3.46 (no image
# names a volume snapshot), 3.50 (multiattach volumes are refused). 3.30 (snapshot sort by
# name) and 3.31/3.33 (configured filters): Nimbus lists newest first and ignores unknown
# filters at every version. 3.42 (extend an in-use volume) is not done: the hypervisor
# driver cannot grow a plugged disk yet, so an in-use volume's extend is still 409.
VERSION = "3.59"
VERSIONS = VersionRange("volume", APIVersion.parse(MIN_VERSION), APIVersion.parse(VERSION))


def _version_doc() -> dict[str, Any]:
    href = deps.settings().public_url + "/volume/v3/"
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": VERSION,
        "min_version": MIN_VERSION,
        "updated": "2016-02-08T12:20:21Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


@bp.get("")
@bp.get("/")
@public
def versions() -> tuple[Response, int]:
    return jsonify({"versions": [_version_doc()]}), 300


@bp.get("/v3")
@bp.get("/v3/")
@public
def version() -> Response:
    """Cinder's version document is a list of one, under ``versions``."""
    return jsonify({"versions": [_version_doc()]})


@bp.before_request
def _authenticate() -> None:
    # The token before the microversion, as in compute (keystonemiddleware runs first).
    ctx = admit(deps.db())
    if ctx is None:
        return
    bind(VERSIONS)
    project = (request.view_args or {}).get("project_id")
    if project is not None and project != ctx.project_id and "admin" not in ctx.roles:
        raise Forbidden("The project in the URL is not the token's project.")


@bp.after_request
def _microversion(response: Response) -> Response:
    response.headers["OpenStack-API-Version"] = f"volume {current(VERSIONS.minimum)}"
    response.headers["Vary"] = "OpenStack-API-Version"
    return response


# Routes register on bp.
from api.volume import (  # noqa: E402,F401
    attachments,
    messages,
    quotas,
    snapshots,
    transfers,
    volume_actions,
    volume_lists,
    volume_metadata,
    volumes,
)
