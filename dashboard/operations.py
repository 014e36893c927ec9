"""Operations across the project's resources: each workflow that provisioning started, its steps, durations, retries and errors, with a link to the Temporal web UI."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("operations", __name__)


@bp.get("/operations")
def operations() -> str:
    return render_template("placeholder.html", title="Operations")
