"""The dashboard's HTTP server: gunicorn, one process (the sessions live in it) with
threads."""

from __future__ import annotations

from flask import Flask

from nimbus.config import Settings
from nimbus.httpserver import GunicornApp, tls_options


class DashboardServer(GunicornApp):
    """Runs ``dashboard.create_dashboard(settings)`` on the dashboard's port, with one worker."""

    def __init__(self, settings: Settings, threads: int = 16) -> None:
        self.settings = settings
        options = {
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
            **tls_options(settings),
        }
        super().__init__(options)

    def load(self) -> Flask:
        from dashboard import create_dashboard

        return create_dashboard(self.settings)
