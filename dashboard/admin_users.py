"""Admin pages for users (list, create with a role on their default project, enable or
disable, reset the password, delete) and roles (list, create, delete), through the
identity API."""

from __future__ import annotations

from flask import g, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.admin import IDENTITY, back, bp, names, projects, roles, users
from dashboard.apiclient import ApiError, refusal

#: Keystone's roles that carry the policy: the identity API refuses to delete them, and
#: the roles page offers no button to.
BUILT_IN_ROLES = frozenset({"admin", "member", "reader"})


@bp.get("/admin/users")
def users_page() -> str:
    known = sorted(projects(), key=lambda p: p["name"])
    return render_template(
        "admin_users.html",
        users=users(),
        projects=known,
        project_names=names(known),
        domains=names(g.api.get(f"{IDENTITY}/domains")["domains"]),
        roles=roles(),
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


def _new_user() -> dict[str, str]:
    """The user the create form describes; 400 for what the API would not be asked."""
    form = request.form
    user = {"name": form.get("name", "").strip(), "password": form.get("password", "")}
    if not user["name"] or not user["password"]:
        raise ApiError(400, "Give the user a name and a password.")
    if form.get("role_id") and not form.get("project_id"):
        raise ApiError(400, "Pick the project on which to grant the role.")
    if form.get("project_id"):
        user["default_project_id"] = form["project_id"]
    return user


@bp.post("/admin/users")
def create_user() -> WerkzeugResponse:
    """Create the user and, if asked, grant it a role on its default project."""
    try:
        user = _new_user()
        made = g.api.json("POST", f"{IDENTITY}/users", json={"user": user})["user"]
    except ApiError as exc:
        return back("admin.users_page", refusal(exc))
    role_id = request.form.get("role_id")
    if role_id:
        path = (
            f"{IDENTITY}/projects/{user['default_project_id']}/users/{made['id']}/roles/{role_id}"
        )
        try:
            g.api.json("PUT", path)
        except ApiError as exc:
            said = f"User {user['name']} created, but the role was not granted: {refusal(exc)}"
            return back("admin.users_page", said)
    return back("admin.users_page", message=f"User {user['name']} created.")


def _not_self(user_id: str, what: str) -> None:
    """An admin who disabled or deleted itself would lose the session it works in."""
    if user_id == g.session.user_id:
        raise ApiError(409, f"You cannot {what} the user you are signed in as.")


@bp.post("/admin/users/<user_id>/enabled")
def set_user_enabled(user_id: str) -> WerkzeugResponse:
    """Enable or disable the user (disabling it revokes its tokens)."""
    enabled = request.form.get("enabled", "") == "true"
    try:
        if not enabled:
            _not_self(user_id, "disable")
        g.api.json("PATCH", f"{IDENTITY}/users/{user_id}", json={"user": {"enabled": enabled}})
    except ApiError as exc:
        return back("admin.users_page", refusal(exc, (401, 404)))
    return back("admin.users_page", message=f"User {'enabled' if enabled else 'disabled'}.")


@bp.post("/admin/users/<user_id>/password")
def reset_password(user_id: str) -> WerkzeugResponse:
    """Set a new password (the user's tokens are revoked)."""
    password = request.form.get("password", "")
    try:
        if not password:
            raise ApiError(400, "Give the new password.")
        body = {"user": {"password": password}}
        g.api.json("PATCH", f"{IDENTITY}/users/{user_id}", json=body)
    except ApiError as exc:
        return back("admin.users_page", refusal(exc, (401, 404)))
    return back("admin.users_page", message="Password reset.")


@bp.post("/admin/users/<user_id>/delete")
def delete_user(user_id: str) -> WerkzeugResponse:
    """Delete the user; the API refuses while servers or the like still name it."""
    try:
        _not_self(user_id, "delete")
        g.api.json("DELETE", f"{IDENTITY}/users/{user_id}")
    except ApiError as exc:
        return back("admin.users_page", refusal(exc, (401, 404)))
    return back("admin.users_page", message="User deleted.")


@bp.get("/admin/roles")
def roles_page() -> str:
    return render_template(
        "admin_roles.html",
        roles=roles(),
        built_in=BUILT_IN_ROLES,
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


@bp.post("/admin/roles")
def create_role() -> WerkzeugResponse:
    name = request.form.get("name", "").strip()
    try:
        if not name:
            raise ApiError(400, "Give the role a name.")
        g.api.json("POST", f"{IDENTITY}/roles", json={"role": {"name": name}})
    except ApiError as exc:
        return back("admin.roles_page", refusal(exc))
    return back("admin.roles_page", message=f"Role {name} created.")


@bp.post("/admin/roles/<role_id>/delete")
def delete_role(role_id: str) -> WerkzeugResponse:
    """Delete the role with its assignments (the API refuses a built-in one)."""
    try:
        g.api.json("DELETE", f"{IDENTITY}/roles/{role_id}")
    except ApiError as exc:
        return back("admin.roles_page", refusal(exc, (401, 404)))
    return back("admin.roles_page", message="Role deleted.")
