"""A small client of Nimbus's own API, for the benchmark, the tests and operators' scripts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml


def tls_verify(cloud: Mapping[str, Any]) -> str | bool:
    """What a clouds.yaml cloud says to check the API's certificate against, as
    openstacksdk reads it: its ``cacert`` file, else its ``verify`` (on by default: the
    system's CAs)."""
    if cloud.get("cacert"):
        return str(cloud["cacert"])
    return bool(cloud.get("verify", True))


def password_auth(user: str, password: str, project: str) -> dict[str, Any]:
    """A Keystone v3 password-auth body scoped to a project of the default domain."""
    domain = {"id": "default"}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": domain, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": domain}},
        }
    }


class NimbusClient:
    """Authenticated JSON calls against one cloud, with credentials from its clouds.yaml."""

    def __init__(self, clouds_yaml: Path, cloud: str = "nimbus", timeout: float = 30) -> None:
        entry = yaml.safe_load(clouds_yaml.read_text())["clouds"][cloud]
        config = entry["auth"]
        self.url = config["auth_url"].rsplit("/identity", 1)[0]
        self.timeout = timeout
        self.verify = tls_verify(entry)
        body = password_auth(config["username"], config["password"], config["project_name"])
        r = requests.post(
            f"{self.url}/identity/v3/auth/tokens", json=body, timeout=timeout, verify=self.verify
        )
        r.raise_for_status()
        self.token = r.headers["X-Subject-Token"]
        self.project_id = r.json()["token"]["project"]["id"]

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        """``method`` on ``<public url><path>`` with the token."""
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        kw.setdefault("verify", self.verify)
        return requests.request(
            method, self.url + path, headers=headers, timeout=self.timeout, **kw
        )

    def image_id(self, name: str) -> str:
        images = self.call("GET", f"/image/v2/images?name={name}").json()["images"]
        return str(images[0]["id"])
