"""Sign in (user, password, domain), switch project (a re-scoped token), sign out (the
tokens revoked), as Horizon does through Keystone."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import api_client
from dashboard.apiclient import Api, ApiError, error_message
from dashboard.sessions import COOKIE, Session, SessionStore

bp = Blueprint("auth", __name__)
TOKENS = "/identity/v3/auth/tokens"


def _store() -> SessionStore:
    store: SessionStore = current_app.extensions["nimbus_sessions"]
    return store


def _api(token: str | None = None) -> Api:
    return api_client(token)


def _expiry(token_body: dict[str, Any]) -> float:
    text = str(token_body.get("expires_at", ""))
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _scoped(unscoped: str, project_id: str) -> tuple[str, dict[str, Any]]:
    """A token for ``project_id`` from the unscoped one; its id and body."""
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": project_id}},
        }
    }
    response = _api().call("POST", TOKENS, json=body)
    if response.status_code != 201:
        raise ApiError(response.status_code, error_message(response))
    return response.headers["X-Subject-Token"], dict(response.json()["token"])


def _local(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("compute.overview")


#: The sign-in form's own CSRF token (there is no session yet): the same random value in
#: a cookie and in the form, which another site can neither read nor set.
LOGIN_COOKIE = "nimbus_login"


def _login_page(target: str, error: str | None, status: int = 200, name: str = "") -> Any:
    # The browser's token is kept: another tab's form, or a page the browser fetched on
    # the side, must not make this one out of date.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    page = render_template("login.html", next=target, error=error, username=name, csrf=token)
    reply = make_response(page, status)
    reply.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure,
        path="/login",
    )  # fmt: skip
    return reply


@bp.get("/login")
def login() -> Any:
    if g.session is not None:
        return redirect(url_for("compute.overview"))
    return _login_page(request.args.get("next", ""), None)


@bp.post("/login")
def sign_in() -> Any:
    name = request.form.get("username", "").strip()
    domain = request.form.get("domain", "").strip() or "Default"
    target = request.form.get("next", "")

    def again(message: str, status: int) -> Any:
        return _login_page(target, message, status, name)

    sent = request.form.get("csrf", "")
    if not sent or sent != request.cookies.get(LOGIN_COOKIE):
        return again("This sign-in form is out of date: try again.", 403)
    if not name or not request.form.get("password"):
        return again("Give your user name and password.", 400)
    domain_ref = {"id": "default"} if domain.lower() == "default" else {"name": domain}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": name,
                        "domain": domain_ref,
                        "password": request.form["password"],
                    }
                },
            },
            "scope": "unscoped",
        }
    }
    response = _api().call("POST", TOKENS, json=body)
    if response.status_code == 401:
        return again("The user name, password or domain is not right.", 401)
    if response.status_code != 201:
        return again(error_message(response), response.status_code)
    unscoped = response.headers["X-Subject-Token"]
    user = response.json()["token"]["user"]
    projects = _api(unscoped).get("/identity/v3/auth/projects")["projects"]
    if not projects:
        return again("You have no role on any project: ask an administrator for one.", 403)
    session = _session(unscoped, user, projects, projects[0]["id"])
    sid = _store().add(session)
    reply = make_response(redirect(_local(target)))
    reply.set_cookie(
        COOKIE, sid, httponly=True, samesite="Strict", secure=request.is_secure, path="/"
    )
    reply.delete_cookie(LOGIN_COOKIE, path="/login")
    return reply


def _session(
    unscoped: str, user: dict[str, Any], projects: list[dict[str, Any]], project_id: str
) -> Session:
    token, body = _scoped(unscoped, project_id)
    project = body["project"]
    return Session(
        unscoped_token=unscoped,
        token=token,
        user_id=str(user["id"]),
        user_name=str(user["name"]),
        project_id=str(project["id"]),
        project_name=str(project["name"]),
        roles=sorted(str(r["name"]) for r in body.get("roles", [])),
        expires_at=_expiry(body),
        projects=[{"id": str(p["id"]), "name": str(p["name"])} for p in projects],
        object_store=_endpoint(body, "object-store"),
    )


def _endpoint(token_body: dict[str, Any], kind: str) -> str | None:
    """The public URL of the catalog's service of type ``kind``, if the cloud has one."""
    for service in token_body.get("catalog", []):
        if service.get("type") == kind:
            for endpoint in service.get("endpoints", []):
                if endpoint.get("interface") == "public":
                    return str(endpoint["url"]).rstrip("/")
    return None


@bp.post("/switch-project")
def switch_project() -> WerkzeugResponse:
    """Re-scope to another of the user's projects; the old project's token is revoked."""
    wanted = request.form.get("project_id", "")
    current = g.session
    if wanted not in {p["id"] for p in current.projects}:
        raise ApiError(404, f"You have no role on project {wanted}.")
    fresh = _session(
        current.unscoped_token,
        {"id": current.user_id, "name": current.user_name},
        current.projects,
        wanted,
    )
    _revoke(current.token)
    current.token, current.project_id, current.project_name = (
        fresh.token,
        fresh.project_id,
        fresh.project_name,
    )
    current.roles, current.expires_at = fresh.roles, fresh.expires_at
    current.object_store = fresh.object_store
    return redirect(url_for("compute.overview"))


def _revoke(token: str) -> None:
    _api(token).call("DELETE", TOKENS, headers={"X-Subject-Token": token})


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    """Revoke both tokens and forget the session."""
    session = _store().remove(request.cookies.get(COOKIE))
    if session is not None:
        _revoke(session.token)
        _revoke(session.unscoped_token)
    reply = redirect(url_for("auth.login"))
    reply.delete_cookie(COOKIE, path="/")
    return reply
