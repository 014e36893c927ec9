"""The dashboard's HTTP server: gunicorn, one process (the sessions live in it) with
threads."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from nimbus.config import Settings


class DashboardServer(BaseApplication):
    """Runs ``dashboard.create_dashboard(settings)`` on the dashboard's port."""

    def __init__(self, settings: Settings, threads: int = 16) -> None:
        self.settings = settings
        self.options = {
            "bind": f"{settings.dashboard_host}:{settings.dashboard_port}",
            "workers": 1,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 120,
            "keepalive": 75,
            "graceful_timeout": 10,
            "proc_name": "nimbus-dashboard",
            "accesslog": None,
            "errorlog": "-",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from dashboard import create_dashboard

        return create_dashboard(self.settings)

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None
