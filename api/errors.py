"""Errors -> HTTP, in one place, in each service's own JSON shape."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from nimbus.errors import NimbusError, Over, QuotaExceeded

log = logging.getLogger(__name__)


class Unauthorized(NimbusError):
    """No token, or one that is unknown, expired or revoked; wrong credentials."""

    http_status = 401


class Forbidden(NimbusError):
    """The caller's role does not allow the action."""

    http_status = 403


class PayloadTooLarge(NimbusError):
    http_status = 413


class UnsupportedMediaType(NimbusError):
    http_status = 415


#: Nova's name for each error status (its body is ``{name: {code, message}}``).
_NOVA_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    503: "serviceUnavailable",
}

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


#: Neutron's error type for each status, when no more specific type applies.
_NEUTRON_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
    503: "HTTPServiceUnavailable",
}

#: Error classes too general to name a Neutron error type of their own.
_GENERIC = {
    "NimbusError",
    "NotFound",
    "Conflict",
    "QuotaExceeded",
    "InvalidSpec",
    "BackendUnavailable",
    "Unauthorized",
    "Forbidden",
    "PayloadTooLarge",
    "UnsupportedMediaType",
}


def _is_network() -> bool:
    return request.blueprint == "network" or request.path.split("/")[1:2] == ["networking"]


def error_response(status: int, message: str, kind: str | None = None) -> Response:
    """The error body this request's service speaks: Nova's for compute, Neutron's for
    networking (``kind``: the error's class, used as Neutron's error type), else Keystone's."""
    if request.blueprint in ("compute", "volume"):
        body = {_NOVA_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
    elif _is_network():
        if kind is None or kind in _GENERIC:
            kind = _NEUTRON_TYPES.get(status, "HTTPInternalServerError")
        body = {"NeutronError": {"type": kind, "message": message, "detail": ""}}
    else:
        title = _TITLES.get(status, "Error")
        body = {"error": {"code": status, "title": title, "message": message}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        identity = request.host_url.rstrip("/") + "/identity"
        response.headers["WWW-Authenticate"] = f'Keystone uri="{identity}"'
    return response


def _cinder_quota_message(over: Over) -> str:
    """Cinder's wording of its first refused resource (sizes in GiB)."""
    if over.resource == "gigabytes":
        return (
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed"
            f" gigabytes quota. Requested {over.requested}G, quota is {over.limit}G and"
            f" {over.used}G has been consumed."
        )
    kind = "Snapshot" if over.resource == "snapshots" else "Volume"
    return (
        f"{kind}LimitExceeded: Maximum number of {over.resource} allowed ({over.limit})"
        f" exceeded for quota '{over.resource}'."
    )


def quota_response(exc: QuotaExceeded) -> Response:
    """Over quota as each service answers it: Nova 403, Cinder 413, Neutron 409."""
    if request.blueprint == "volume" and exc.overs:
        return error_response(413, _cinder_quota_message(exc.overs[0]))
    if _is_network():
        names = sorted(o.resource for o in exc.overs)
        return error_response(409, f"Quota exceeded for resources: {names}.", "OverQuota")
    return error_response(exc.http_status, str(exc))


def register(app: Flask) -> None:
    """Install the handlers that turn every error into a JSON response."""

    @app.errorhandler(NimbusError)
    def _nimbus(exc: NimbusError) -> Response:
        return error_response(exc.http_status, str(exc), type(exc).__name__)

    @app.errorhandler(QuotaExceeded)
    def _quota(exc: QuotaExceeded) -> Response:
        return quota_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500,
            "The server has either erred or is incapable of performing the requested operation.",
        )
