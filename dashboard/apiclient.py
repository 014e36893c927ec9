"""The dashboard's client of Nimbus's public REST APIs, with the signed-in user's token.

The dashboard is a client like the ``openstack`` CLI: every read and write goes through
these APIs, with their policy, quotas and workflows; it never opens the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

#: The microversions the dashboard speaks (those the openstack CLI sends by default, and
#: what its pages show).
HEADERS = {"OpenStack-API-Version": "compute 2.79, volume 3.59", "Accept": "application/json"}


class ApiError(Exception):
    """An API's refusal: its status and the message it gave."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refusal(exc: ApiError, passing: tuple[int, ...] = (401,)) -> str:
    """The message of a refusal to show next to the form that caused it; a status in
    ``passing`` (401: the session is gone; 404 where the page's own resource is missing)
    is raised again, for the app's error handler."""
    if exc.status in passing:
        raise exc
    return exc.message


def error_message(response: requests.Response) -> str:
    """The message of any service's error body (``{"<kind>": {"message": ...}}``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return str(body)[:500]


@dataclass
class Api:
    """Calls to ``base`` (the API's public URL) as the holder of ``token``."""

    base: str
    token: str | None = None
    timeout: float = 30.0
    #: The CA file its certificate is checked against, or True for the system's.
    verify: str | bool = True

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {**HEADERS, **kw.pop("headers", {})}
        if self.token:
            headers["X-Auth-Token"] = self.token
        try:
            return requests.request(
                method,
                self.base + path,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                **kw,
            )
        except requests.RequestException as exc:
            raise ApiError(503, f"the cloud's API cannot be reached: {exc}") from exc

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """The answer's JSON (``{}`` for an empty one); ``ApiError`` for a refusal."""
        response = self.call(method, path, **kw)
        if response.status_code >= 400:
            raise ApiError(response.status_code, error_message(response))
        return response.json() if response.content else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.json("GET", path, params=params or None)
