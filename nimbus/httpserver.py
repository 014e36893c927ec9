"""gunicorn configured in code, for the processes that serve a Flask app (the API, the
metadata service, the dashboard): each names its options and how to build its app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from nimbus.config import Settings


def tls_options(settings: Settings) -> dict[str, Any]:
    """gunicorn's options for HTTPS with the cloud's certificate (none when TLS is off)."""
    if not settings.tls:
        return {}
    return {"certfile": str(settings.tls_cert), "keyfile": str(settings.tls_key)}


class GunicornApp(BaseApplication):
    """Serves ``load()``'s app with ``options`` (gunicorn's settings by name)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        raise NotImplementedError

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None
