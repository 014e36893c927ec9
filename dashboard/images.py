"""Images (list, upload with progress, delete) through the image API (Glance v2), and volume snapshots through the block storage API (Cinder v3)."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("images", __name__)


@bp.get("/images")
def images() -> str:
    return render_template("placeholder.html", title="Images")


@bp.get("/snapshots")
def snapshots() -> str:
    return render_template("placeholder.html", title="Volume snapshots")
