"""The PaaS API's client for ``nimbus app``: credentials from the same ``clouds.yaml`` and
``OS_CLOUD`` as the openstack CLI, the endpoint from the token's catalog."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from nimbus.client import password_auth, tls_verify

#: Where the openstack CLI looks for clouds.yaml, after ``OS_CLIENT_CONFIG_FILE``.
CONFIG_PATHS = (
    Path("clouds.yaml"),
    Path.home() / ".config" / "openstack" / "clouds.yaml",
    Path("/etc/openstack/clouds.yaml"),
)


class ClientError(Exception):
    """What the user sees: a message and, for an API error, its status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _clouds_file(env: Mapping[str, str]) -> Path:
    named = env.get("OS_CLIENT_CONFIG_FILE")
    candidates = [Path(named)] if named else list(CONFIG_PATHS)
    for path in candidates:
        if path.is_file():
            return path
    raise ClientError(
        "no clouds.yaml found: set OS_CLIENT_CONFIG_FILE (nimbus up writes .nimbus/clouds.yaml)"
    )


def load_cloud(env: Mapping[str, str] | None = None, cloud: str | None = None) -> dict[str, Any]:
    """The chosen cloud's entry (``--os-cloud``, ``OS_CLOUD``, or the only one in the
    file): its ``auth`` section, and its ``cacert`` or ``verify``."""
    env = os.environ if env is None else env
    clouds = yaml.safe_load(_clouds_file(env).read_text()).get("clouds") or {}
    name = cloud or env.get("OS_CLOUD") or (next(iter(clouds)) if len(clouds) == 1 else None)
    if name is None or name not in clouds:
        raise ClientError(
            f"choose a cloud with OS_CLOUD or --os-cloud (known: {', '.join(clouds)})"
        )
    entry: dict[str, Any] = clouds[name]
    return entry


def _error(response: requests.Response) -> ClientError:
    try:
        body = response.json()
        message = next(iter(body.values()))["message"]
    except (ValueError, KeyError, TypeError, StopIteration):
        message = response.text.strip() or response.reason
    return ClientError(f"{message} ({response.status_code})", response.status_code)


class AppClient:
    """Authenticated calls to ``/paas/v1``."""

    def __init__(self, cloud: Mapping[str, Any], timeout: float = 120) -> None:
        """Log in as the ``auth`` of a clouds.yaml entry (``load_cloud``)."""
        self.timeout = timeout
        self.verify = tls_verify(cloud)
        auth = cloud["auth"]
        body = password_auth(auth["username"], auth["password"], auth["project_name"])
        url = str(auth["auth_url"]).rstrip("/")
        url = url if url.endswith("/v3") else url + "/v3"
        try:
            r = requests.post(f"{url}/auth/tokens", json=body, timeout=timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise ClientError(f"cannot reach the cloud at {url}: {exc}") from exc
        if r.status_code != 201:
            raise _error(r)
        self.token = r.headers["X-Subject-Token"]
        self.base = _endpoint(r.json()["token"].get("catalog") or [], "paas")

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
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
            raise ClientError(f"cannot reach the PaaS API: {exc}") from exc

    def json(self, method: str, path: str, ok: tuple[int, ...] = (200, 201, 202), **kw: Any) -> Any:
        response = self.call(method, path, **kw)
        if response.status_code not in ok:
            raise _error(response)
        return response.json() if response.content else {}

    def app(self, name: str) -> dict[str, Any]:
        """An app of the project by name."""
        apps = self.json("GET", "/apps", params={"name": name})["apps"]
        if not apps:
            raise ClientError(f"app {name} not found", 404)
        found: dict[str, Any] = apps[0]
        return found


def _endpoint(catalog: list[dict[str, Any]], kind: str) -> str:
    for service in catalog:
        if service.get("type") == kind:
            for endpoint in service.get("endpoints", []):
                if endpoint.get("interface") == "public":
                    return str(endpoint["url"]).rstrip("/")
    raise ClientError(f"the cloud's catalog has no {kind} service")
