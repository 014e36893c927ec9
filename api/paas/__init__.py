"""The PaaS API under ``/paas/v1``: apps, packages, builds, releases, instances, routes,
events, logs, services and bindings. Same Keystone tokens and policy table as every other
service: a reader looks, a member pushes, another project's apps are 404.
"""

from __future__ import annotations

from flask import Blueprint

from api.own import serve_v1

bp = Blueprint("paas", __name__)
serve_v1(bp, "/paas")

#: What a supervisor update may take to be acknowledged (it runs a few activities).
UPDATE_SECONDS = 60


from api.paas import (  # noqa: E402,F401  (routes register on bp)
    actions,
    apps,
    autoscaling,
    builds,
    deployments,
    packages,
    services,
)
