"""Object storage: the project's containers and their objects (upload, download, delete) through the Swift API the catalog names."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("objects", __name__)


@bp.get("/containers")
def containers() -> str:
    return render_template("placeholder.html", title="Containers")
