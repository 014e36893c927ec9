"""Request metrics for the Flask API and its ``/metrics`` endpoint."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.context import public
from observability import metrics
from observability.context import REQUEST_ID

log = logging.getLogger("nimbus.api.access")


def instrument(app: Flask, registry: CollectorRegistry | None = None) -> None:
    """Count and time every request by route template; serve ``/metrics``: the process's
    own metrics, then those of ``registry`` (collected at each scrape)."""

    @app.before_request
    def _start() -> None:
        g.started = time.monotonic()
        if "request_id" not in g:  # OpenStack's form; the answer's x-openstack-request-id
            g.request_id = f"req-{uuid.uuid4()}"
        g.request_token = REQUEST_ID.set(g.request_id)

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            REQUEST_ID.reset(token)

    @app.after_request
    def _record(response: Response) -> Response:
        from api.bridge import started_runs

        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.monotonic() - g.get("started", time.monotonic())
        metrics.API_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.API_LATENCY.labels(request.method, route).observe(elapsed)
        path = request.full_path if request.query_string else request.path
        runs = started_runs()
        log.info(
            '%s "%s %s" %s %.1fms',
            request.remote_addr,
            request.method,
            path,
            response.status_code,
            elapsed * 1000,
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round(elapsed * 1000, 1),
                "workflows": [{"workflow_id": w, "run_id": r} for w, r in runs],
            },
        )
        return response

    @app.get("/metrics")
    @public
    def _metrics() -> Response:
        extra = generate_latest(registry) if registry is not None else b""
        return Response(generate_latest() + extra, mimetype=CONTENT_TYPE_LATEST)
