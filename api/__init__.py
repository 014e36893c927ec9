"""The REST API: one Flask app, one blueprint per OpenStack service, on one port."""

from __future__ import annotations

from flask import Flask
from prometheus_client import CollectorRegistry

from activities.storage.block import BlockStore
from api import audit, errors, operations
from api.bridge import TemporalBridge
from nimbus import temporal
from nimbus.config import Settings
from nimbus.db import Database
from observability.cloud import CloudCollector
from observability.flask import instrument
from observability.paas import PaasCollector


def create_app(
    settings: Settings,
    db: Database | None = None,
    bridge: TemporalBridge | None = None,
    *,
    block_store: BlockStore,
    observe: bool = True,
) -> Flask:
    """Build the app; ``db`` and ``bridge`` default to the configured ones.

    The block store serves image downloads (a read); every write goes through a workflow.
    It is a driver, so the caller chooses it (the real one is ``launcher.drivers``'s).
    ``observe=False`` leaves out request metrics, ``/metrics`` and the access log (for the
    benchmark that measures what they cost).
    """
    from api import compute, identity, image, network, openapi, paas, volume

    # No static folder: the API serves JSON only (the dashboard is its own app).
    app = Flask("nimbus", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["nimbus"] = {
        "settings": settings,
        "db": db or Database(settings.db_url),
        "bridge": bridge
        or TemporalBridge(
            settings.temporal_address,
            settings.temporal_namespace,
            options=temporal.options(settings),
        ),
        "block_store": block_store,
    }
    errors.register(app)
    if observe:
        _observe(app, settings)
    audit.register(app)
    app.register_blueprint(audit.bp, url_prefix="/audit")
    app.register_blueprint(identity.bp, url_prefix="/identity")
    app.register_blueprint(compute.bp, url_prefix="/compute")
    app.register_blueprint(image.bp, url_prefix="/image")
    app.register_blueprint(volume.bp, url_prefix="/volume")
    app.register_blueprint(network.bp, url_prefix="/networking")
    app.register_blueprint(paas.bp, url_prefix="/paas")
    app.register_blueprint(operations.bp, url_prefix="/operations")
    app.register_blueprint(openapi.bp)
    return app


def _observe(app: Flask, settings: Settings) -> None:
    """Request metrics and the access log, and ``/metrics`` with the cloud's own metrics."""
    db_metrics = CollectorRegistry(auto_describe=False)
    database = app.extensions["nimbus"]["db"]
    db_metrics.register(PaasCollector(database))
    db_metrics.register(
        CloudCollector(
            database,
            settings.stuck_operation_seconds,
            settings.quota_defaults,
        )
    )
    instrument(app, db_metrics)
