"""The PaaS layer's client of Nimbus's public APIs.

Apps run on ordinary servers, networks and images of their project, made through the same
REST API (and so the same policy, quotas and workflows) as a user's own. The PaaS service
user holds ``member`` on every project with apps; it logs in once per project and keeps
the token until shortly before it expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from nimbus.client import password_auth
from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NotFound, QuotaExceeded

#: A token is replaced this long before it expires.
TOKEN_MARGIN_SECONDS = 300

_STATUS_ERRORS: dict[int, type[Exception]] = {
    400: InvalidSpec,
    404: NotFound,
    409: Conflict,
    413: QuotaExceeded,
}


def _message(response: requests.Response) -> str:
    """The error message of any service's error body, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
    return str(body)[:500]


def raise_for(response: requests.Response, what: str) -> None:
    """Turn an error answer into the Nimbus error tree: 5xx and 401 are retried."""
    if response.status_code < 400:
        return
    text = f"{what}: {_message(response)}"
    if response.status_code == 403 and "Quota exceeded" in text:
        raise QuotaExceeded(text)
    if response.status_code == 409 and "OverQuota" in response.text:
        raise QuotaExceeded(text)
    kind = _STATUS_ERRORS.get(response.status_code)
    if kind is None:
        raise BackendUnavailable(f"{text} ({response.status_code})")
    raise kind(text)


class CloudApi:
    """Authenticated calls as the PaaS service user, scoped to one project each."""

    def __init__(
        self,
        url: str,
        user: str,
        password_file: Path,
        timeout: float = 60,
        verify: str | bool = True,
    ) -> None:
        """``verify``: the CA file the API's certificate is checked against (the cloud's
        own, ``Settings.api_verify``), or True for the system's."""
        self.url = url.rstrip("/")
        self.verify = verify
        self.user = user
        self.password_file = password_file
        self.timeout = timeout
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _login(self, project_id: str) -> tuple[str, float]:
        body = password_auth(self.user, self.password_file.read_text().strip(), "")
        body["auth"]["scope"] = {"project": {"id": project_id}}
        response = self._send("POST", "/identity/v3/auth/tokens", json=body)
        raise_for(response, f"log in to project {project_id}")
        return response.headers["X-Subject-Token"], time.monotonic() + 3000

    def token(self, project_id: str) -> str:
        """A token of the service user scoped to the project, reused while it is fresh."""
        with self._lock:
            cached = self._tokens.get(project_id)
            if cached is None or cached[1] - TOKEN_MARGIN_SECONDS < time.monotonic():
                cached = self._tokens[project_id] = self._login(project_id)
            return cached[0]

    def _send(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("verify", self.verify)
        try:
            return requests.request(method, self.url + path, **kw)
        except requests.RequestException as exc:
            raise BackendUnavailable(f"the API at {self.url} is unreachable: {exc}") from exc

    def call(self, project_id: str, method: str, path: str, **kw: Any) -> requests.Response:
        """``method path`` in the project; a token refused (revoked meanwhile) is renewed."""
        headers = kw.pop("headers", {})
        response = self._send(
            method, path, headers={**headers, "X-Auth-Token": self.token(project_id)}, **kw
        )
        if response.status_code == 401:
            with self._lock:
                self._tokens.pop(project_id, None)
            response = self._send(
                method, path, headers={**headers, "X-Auth-Token": self.token(project_id)}, **kw
            )
        return response

    def json(self, project_id: str, method: str, path: str, what: str, **kw: Any) -> Any:
        """``call`` that raises for an error answer and returns the JSON body (or None)."""
        response = self.call(project_id, method, path, **kw)
        raise_for(response, what)
        return response.json() if response.content else None

    def find(self, project: str, path: str, key: str, **filters: str) -> list[dict[str, Any]]:
        """List ``path`` in ``project`` with ``filters`` and keep the items that match
        them exactly."""
        items = self.json(project, "GET", path, f"list {key}", params=filters)[key]
        return [i for i in items if all(i.get(k) == v for k, v in filters.items())]


def stream(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in chunks, for a streamed upload."""
    with path.open("rb") as f:
        while block := f.read(chunk):
            yield block
