"""The REST API: one Flask app, one blueprint per OpenStack service, on one port."""

from __future__ import annotations

from flask import Flask

from api import errors
from api.bridge import TemporalBridge
from nimbus.config import Settings
from nimbus.db import Database
from observability.flask import instrument


def create_app(
    settings: Settings, db: Database | None = None, bridge: TemporalBridge | None = None
) -> Flask:
    """Build the app; ``db`` and ``bridge`` default to the configured ones."""
    from api import compute, identity, image

    app = Flask("nimbus")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["nimbus"] = {
        "settings": settings,
        "db": db or Database(settings.db_url),
        "bridge": bridge or TemporalBridge(settings.temporal_address, settings.temporal_namespace),
    }
    errors.register(app)
    instrument(app)
    app.register_blueprint(identity.bp, url_prefix="/identity")
    app.register_blueprint(compute.bp, url_prefix="/compute")
    app.register_blueprint(image.bp, url_prefix="/image")
    return app
