"""Request metrics for the Flask API and its ``/metrics`` endpoint."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from observability import metrics

log = logging.getLogger("nimbus.api.access")


def instrument(app: Flask, registry: CollectorRegistry | None = None) -> None:
    """Count and time every request by route template; serve ``/metrics``: the process's
    own metrics, then those of ``registry`` (collected at each scrape)."""

    @app.before_request
    def _start() -> None:
        g.started = time.monotonic()

    @app.after_request
    def _record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.monotonic() - g.get("started", time.monotonic())
        metrics.API_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.API_LATENCY.labels(request.method, route).observe(elapsed)
        log.info(
            '%s "%s %s" %s %.1fms',
            request.remote_addr,
            request.method,
            request.full_path if request.query_string else request.path,
            response.status_code,
            elapsed * 1000,
        )
        return response

    @app.get("/metrics")
    def _metrics() -> Response:
        extra = generate_latest(registry) if registry is not None else b""
        return Response(generate_latest() + extra, mimetype=CONTENT_TYPE_LATEST)
