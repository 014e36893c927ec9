"""Nimbus's dashboard (in the spirit of Horizon): a Flask app on its own port that a project
member uses in a browser, through the same public REST APIs as any client.

``create_dashboard(settings)`` builds it; ``nimbus dashboard`` serves it (``nimbus up``
starts it). The user signs in with user, password and domain; the dashboard keeps the
Keystone tokens server-side (``dashboard.sessions``) and checks a CSRF token on every
change. Statuses update in place with htmx (vendored under ``static/``).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from dashboard.apiclient import Api, ApiError
from dashboard.sessions import COOKIE, SessionStore
from nimbus.config import Settings

#: Routes a visitor without a session may use.
PUBLIC = frozenset({"auth.login", "auth.sign_in", "static", "health", "favicon"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def create_dashboard(settings: Settings, api_url: str | None = None) -> Flask:
    """The dashboard app, a client of the API at ``api_url`` (default: this cloud's)."""
    from dashboard import admin, apps, auth, compute, images, network, objects, operations, storage

    app = Flask("nimbus-dashboard", root_path=__path__[0])
    app.config["NIMBUS_API"] = api_url or settings.public_url
    app.config["NIMBUS_API_VERIFY"] = settings.api_verify
    app.config["TEMPORAL_UI"] = (
        f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
    )
    app.config["TEMPLATES_AUTO_RELOAD"] = False
    app.extensions["nimbus_sessions"] = SessionStore()
    app.jinja_env.autoescape = True
    app.register_blueprint(auth.bp)
    app.register_blueprint(compute.bp)
    app.register_blueprint(storage.bp)
    app.register_blueprint(apps.bp)
    for area in (images, network, objects, operations, admin):
        app.register_blueprint(area.bp)

    @app.get("/health")
    def health() -> str:
        return "ok\n"

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.before_request
    def _session() -> Any:
        store: SessionStore = app.extensions["nimbus_sessions"]
        g.session = store.get(request.cookies.get(COOKIE))
        g.api = api_client(g.session.token if g.session else None)
        if request.endpoint in PUBLIC:
            return None
        if g.session is None:
            if request.headers.get("HX-Request"):
                return Response(status=401, headers={"HX-Redirect": url_for("auth.login")})
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if request.method in UNSAFE:
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf")
            if sent != g.session.csrf:
                return error_page(403, "This form is out of date or did not come from here.")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        if exc.status == 401:  # the token expired or was revoked elsewhere
            app.extensions["nimbus_sessions"].remove(request.cookies.get(COOKIE))
            return redirect(url_for("auth.login"))
        if exc.status == 404:
            return error_page(404, exc.message)
        return error_page(exc.status if 400 <= exc.status < 600 else 502, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return error_page(exc.code or 500, exc.description or exc.name)

    return app


def api_client(token: str | None = None) -> Api:
    """A client of the cloud's API, as the holder of ``token``."""
    return Api(
        current_app.config["NIMBUS_API"], token, verify=current_app.config["NIMBUS_API_VERIFY"]
    )


def error_page(status: int, message: str) -> tuple[str, int]:
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
    title = titles.get(status, "Something went wrong")
    return render_template("error.html", status=status, title=title, message=message), status
