"""Admin pages: projects, users, roles, quotas and hypervisor usage, through the identity, compute and block storage APIs as an admin."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("admin", __name__)


@bp.get("/admin")
def index() -> str:
    return render_template("placeholder.html", title="Admin")
