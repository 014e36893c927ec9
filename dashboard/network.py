"""Networks, subnets, routers, floating IPs, security groups and their rules, and the project's network topology, through the networking API (Neutron v2.0)."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("network", __name__)


@bp.get("/networks")
def networks() -> str:
    return render_template("placeholder.html", title="Networks")


@bp.get("/routers")
def routers() -> str:
    return render_template("placeholder.html", title="Routers")


@bp.get("/floating-ips")
def floating_ips() -> str:
    return render_template("placeholder.html", title="Floating IPs")


@bp.get("/security-groups")
def security_groups() -> str:
    return render_template("placeholder.html", title="Security groups")


@bp.get("/topology")
def topology() -> str:
    return render_template("placeholder.html", title="Network topology")
