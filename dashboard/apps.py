"""Apps (the PaaS layer): list, an app's instances and deployment as they move, scale,
restart, revisions and rollback, events, environment, and its log followed live. Each is
a call to the PaaS API (``/paas/v1``) as the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal

bp = Blueprint("apps", __name__)
PAAS = "/paas/v1"
#: Lines the log panel shows first, and at most per poll.
LOG_LINES = 200


def settled(app: dict[str, Any]) -> bool:
    """Whether nothing about the app is moving (no deployment, no instance starting)."""
    starting = any(i["state"] != "RUNNING" for i in app.get("instance_states", []))
    deploying = (app.get("deployment") or {}).get("state") not in (None, "DEPLOYED", "FAILED")
    return not starting and not deploying and app["running_instances"] == app["instances"]


@bp.get("/apps")
def apps() -> str:
    found = g.api.get(f"{PAAS}/apps")["apps"]
    return render_template("apps.html", apps=found)


def _app(app_id: str) -> dict[str, Any]:
    found: dict[str, Any] = g.api.get(f"{PAAS}/apps/{app_id}")["app"]
    return found


@bp.get("/apps/<app_id>")
def app(app_id: str) -> str:
    found = _app(app_id)
    releases = g.api.get(f"{PAAS}/apps/{app_id}/releases")["releases"]
    events = g.api.get(f"{PAAS}/apps/{app_id}/events", limit=20)["events"]
    env = g.api.get(f"{PAAS}/apps/{app_id}/env")["env"]  # the app's own, not its services'
    logs = g.api.get(f"{PAAS}/apps/{app_id}/logs", limit=LOG_LINES)
    return render_template(
        "app.html",
        app=found,
        app_id=found["id"],
        polling=not settled(found),
        releases=releases,
        events=events,
        env=env,
        lines=logs["lines"],
        last=logs["last"],
        message=request.args.get("message"),
        error=request.args.get("error"),
    )


@bp.get("/apps/<app_id>/state")
def app_state(app_id: str) -> str:
    found = _app(app_id)
    return render_template("_app_state.html", app=found, polling=not settled(found))


@bp.get("/apps/<app_id>/log-lines")
def log_lines(app_id: str) -> str:
    """The lines after ``after``, followed by the poller for the next ones: swapped in
    for the poller, they extend the log."""
    try:
        after = max(0, int(request.args.get("after", "0")))
    except ValueError:
        after = 0
    logs = g.api.get(f"{PAAS}/apps/{app_id}/logs", after=after, limit=LOG_LINES)
    return render_template("_log_lines.html", app_id=app_id, lines=logs["lines"], last=logs["last"])


def _back(app_id: str, message: str | None = None, error: str | None = None) -> Any:
    args: dict[str, Any] = {k: v for k, v in (("message", message), ("error", error)) if v}
    return redirect(url_for("apps.app", app_id=app_id, **args))


@bp.post("/apps/<app_id>/scale")
def scale(app_id: str) -> WerkzeugResponse:
    try:
        instances = int(request.form.get("instances", ""))
    except ValueError:
        return _back(app_id, error="The instance count must be a whole number.")
    try:
        body = {"instances": instances}
        g.api.json("POST", f"{PAAS}/apps/{app_id}/actions/scale", json=body)
    except ApiError as exc:
        return _back(app_id, error=refusal(exc, (401, 404)))
    return _back(app_id, message=f"Scaling to {instances} instance(s).")


@bp.post("/apps/<app_id>/actions/<action>")
def act(app_id: str, action: str) -> WerkzeugResponse:
    if action not in ("restart", "stop", "start"):
        raise ApiError(404, f"There is no app action {action}.")
    try:
        g.api.json("POST", f"{PAAS}/apps/{app_id}/actions/{action}")
    except ApiError as exc:
        return _back(app_id, error=refusal(exc, (401, 404)))
    return _back(app_id, message={"restart": "Restarting.", "stop": "Stopping.",
                                  "start": "Starting."}[action])  # fmt: skip


@bp.post("/apps/<app_id>/rollback")
def rollback(app_id: str) -> WerkzeugResponse:
    try:
        revision = int(request.form.get("revision", ""))
        g.api.json("POST", f"{PAAS}/apps/{app_id}/actions/rollback", json={"revision": revision})
    except ValueError:
        return _back(app_id, error="Pick a revision.")
    except ApiError as exc:
        return _back(app_id, error=refusal(exc, (401, 404)))
    return _back(app_id, message=f"Rolling back to revision {revision}.")
