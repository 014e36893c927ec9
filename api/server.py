"""The API's HTTP server: gunicorn with threaded workers.

Threaded workers hand each request's body to the app as it arrives on the socket, so an
image upload is staged while it streams in (a buffering server would hold the whole body
first). Each worker process builds its own app, and with it its own Temporal bridge loop.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from activities.storage.block import BlockStore
from nimbus.config import Settings
from nimbus.httpserver import GunicornApp, tls_options


class ApiServer(GunicornApp):
    """Runs ``api.create_app(settings)`` under gunicorn, configured in code. Each worker
    process makes its block store with ``block_store``."""

    def __init__(
        self,
        settings: Settings,
        block_store: Callable[[], BlockStore],
        workers: int = 2,
        threads: int = 16,
    ) -> None:
        self.settings = settings
        self.block_store = block_store
        options = {
            "bind": f"{settings.api_host}:{settings.api_port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 120,
            # Clients poll every few seconds on kept-alive connections: a short keep-alive
            # closes them just as a poll reuses one (RemoteDisconnected on the client).
            "keepalive": 75,
            "graceful_timeout": 20,
            "proc_name": "nimbus-api",
            "accesslog": None,
            "errorlog": "-",
            **tls_options(settings),
        }
        super().__init__(options)

    def load(self) -> Flask:
        from api import create_app

        return create_app(self.settings, block_store=self.block_store())


class MetadataServer(GunicornApp):
    """Runs the metadata app (``api.metadata``) on the host's metadata socket, where the
    networks' metadata proxies send guests' requests. One worker: guests ask a handful of
    small questions at boot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options = {
            "bind": f"unix:{settings.metadata_socket}",
            "workers": 1,
            "threads": 8,
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": 10,
            # Only root (the proxies run as root) may connect to the socket.
            "umask": 0o077,
            "proc_name": "nimbus-metadata",
            "accesslog": None,
            "errorlog": "-",
        }
        super().__init__(options)

    def load(self) -> Flask:
        from api.metadata import create_metadata_app

        return create_metadata_app(self.settings)
