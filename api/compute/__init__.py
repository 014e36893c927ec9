"""Compute, Nova v2.1 shape: versions, flavors and servers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import deps
from api.context import admit, public
from api.microversion import APIVersion, VersionRange, bind, current

bp = Blueprint("compute", __name__)

MIN_VERSION = "2.1"
# What each microversion changes here. Many concern APIs Nimbus does not serve (os-hosts,
# os-migrations, aggregates' writes, evacuate, live migration, shelve, diagnostics,
# external events, the proxy APIs that 2.36 and 2.44 retire, os-simple-tenant-usage): at
# those versions nothing changes here.
#   2.11 a service's forced_down; 2.13 a server group's project and user; 2.15 soft
#   affinity policies; 2.16 host_status; 2.17 trigger_crash_dump; 2.19 description; 2.21 a
#   deleted server's instance actions; 2.26 tags; 2.28 a hypervisor's cpu_info an object;
#   2.41 an aggregate's uuid; 2.32/2.42 device tags on create (list_query, create_schema);
#   2.33/2.53 hypervisor paging, UUIDs and filters, and service UUIDs with PUT /os-
#   services/{id}; 2.35 key pair paging; 2.36/2.39/2.57 network, image-metadata and
#   personality fields leave quotas and limits; 2.37 networks required, "auto"/"none";
#   2.38 bad status filters refused; 2.45 createImage's image_id in the body; 2.47 the
#   embedded flavor; 2.49/2.70 tags on attach and in attachment views; 2.51/2.58/2.62/
#   2.66 instance action events, paging and filters; 2.52 tags on create; 2.54/2.57
#   key_name and user_data on rebuild; 2.55/2.61 flavor description and extra specs; 2.63
#   trusted_image_certificates (none, never verified); 2.64 a server group's policy and
#   rules (server_groups); 2.67 BDM volume_type; 2.71 a server's server_groups; 2.73
#   locked_reason and the locked filter; 2.74 host on create (admins); 2.75 strict list
#   parameters and swap 0; 2.78 topology; 2.79 a volume attachment's
#   delete_on_termination. 2.60 (multi-attach) changes nothing as no volume is multi-
#   attach; 2.72 (QoS ports) nothing as ports carry no resource requests.
MAX_VERSION = "2.79"
VERSIONS = VersionRange(
    "compute",
    APIVersion.parse(MIN_VERSION),
    APIVersion.parse(MAX_VERSION),
    legacy_header="X-OpenStack-Nova-API-Version",
)


def _version_doc() -> dict[str, Any]:
    href = deps.settings().public_url + "/compute/v2.1/"
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": href}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


@bp.get("")
@bp.get("/")
@public
def versions() -> tuple[Response, int]:
    """Nova's root answers 200 (not 300) with the versions it serves."""
    return jsonify({"versions": [_version_doc()]}), 200


@bp.get("/v2.1")
@bp.get("/v2.1/")
@public
def version() -> Response:
    return jsonify({"version": _version_doc()})


@bp.before_request
def _authenticate() -> None:
    # The token before the microversion, as keystonemiddleware runs before Nova's version
    # handling: an anonymous caller gets 401 whatever version it asks for.
    if admit(deps.db()) is not None:
        bind(VERSIONS)


@bp.after_request
def _microversion(response: Response) -> Response:
    version = str(current(VERSIONS.minimum))
    response.headers["OpenStack-API-Version"] = f"compute {version}"
    response.headers["X-OpenStack-Nova-API-Version"] = version
    response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return response


from api.compute import (  # noqa: E402,F401  (routes register on bp)
    flavor_access,
    flavor_extra_specs,
    flavor_manage,
    flavors,
    hypervisors,
    keypairs,
    quotas,
    server_groups,
    server_topology,
    servers,
    services,
    zones,
)
