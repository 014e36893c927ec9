"""Cloud Foundry's app manifest (``manifest.yml``), one application, as a frozen dataclass.

The YAML manifest and the REST API's JSON body use the same keys and go through
``validate_app_fields``, so one set of rules serves both.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nimbus.errors import InvalidSpec
from paas import fields
from paas.fields import MAX_INSTANCES, MAX_TIMEOUT, Where

APP_KEYS = (
    "name",
    "instances",
    "memory",
    "command",
    "env",
    "routes",
    "health-check-type",
    "health-check-http-endpoint",
    "timeout",
    "buildpacks",
)
TOP_KEYS = ("applications", "version")
MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class AppManifest:
    """What one app asks for: name, scale, start command, environment, routes, health."""

    name: str
    instances: int = 1
    memory_mib: int = 256
    command: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[str, ...] = ()
    health_type: str = "port"
    health_endpoint: str = "/"
    timeout: int = 60
    buildpack: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The manifest's own keys as a plain dict; ``from_json`` reads it back unchanged."""
        body: dict[str, Any] = {
            "name": self.name,
            "instances": self.instances,
            "memory": f"{self.memory_mib}M",
            "command": self.command,
            "env": dict(self.env),
            "routes": [{"route": r} for r in self.routes],
            "health-check-type": self.health_type,
            "timeout": self.timeout,
            "buildpacks": [self.buildpack] if self.buildpack else [],
        }
        if self.health_type == "http":
            body["health-check-http-endpoint"] = self.health_endpoint
        return body

    @classmethod
    def from_json(cls, body: Any) -> AppManifest:
        """Reads a dict made by ``to_json`` (or a REST body), with the same checks."""
        return validate_app_fields(body, source="app")


def validate_app_fields(d: Any, source: str = "manifest") -> AppManifest:
    """Checks one application's fields (manifest keys) and returns the manifest.

    Raises InvalidSpec naming the key and what is wrong, prefixed by ``source``.
    """
    where = Where(source)
    if not isinstance(d, dict):
        raise where.error(f"an application must be a mapping of keys to values, not {d!r}")
    name = fields.app_name(d.get("name"), where)
    _refuse_unknown(d, APP_KEYS, f"in application {name!r}", where)
    kind = fields.health_type(d.get("health-check-type"), where)
    return AppManifest(
        name=name,
        instances=fields.integer("instances", d.get("instances", 1), 0, MAX_INSTANCES, where),
        memory_mib=fields.memory_mib(d.get("memory", "256M"), where),
        command=fields.command(d.get("command"), where),
        env=fields.env(d.get("env"), where),
        routes=fields.routes(d.get("routes"), where),
        health_type=kind,
        health_endpoint=fields.health_endpoint(d.get("health-check-http-endpoint"), kind, where),
        timeout=fields.integer("timeout", d.get("timeout", 60), 1, MAX_TIMEOUT, where),
        buildpack=fields.buildpack(d.get("buildpacks"), where),
    )


def load_manifest(text: str) -> AppManifest:
    """Parses a ``manifest.yml`` holding exactly one application."""
    where = Where("manifest")
    doc = _parse_yaml(text, where)
    if not isinstance(doc, dict):
        raise where.error(f"expected a mapping with an 'applications' list, not {doc!r:.60}")
    _refuse_unknown(doc, TOP_KEYS, "at the top level", where)
    apps = doc.get("applications")
    if not isinstance(apps, list) or not apps:
        raise where.wrong("applications", "a list holding one application", apps)
    if len(apps) != 1:
        raise where.error(f"found {len(apps)} applications; a manifest here describes one")
    return validate_app_fields(apps[0])


def manifest_from_file(path: Path) -> AppManifest:
    """Reads and parses a manifest file; InvalidSpec if it is missing or unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidSpec(f"manifest: cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidSpec(f"manifest: {path} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return load_manifest(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidSpec(f"manifest: {path} is not UTF-8 text") from exc


def _parse_yaml(text: str, where: Where) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise where.error(f"not valid YAML: {' '.join(str(exc).split())}") from exc


def _refuse_unknown(d: dict[Any, Any], known: tuple[str, ...], place: str, where: Where) -> None:
    for key in d:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise where.error(f"unknown key {key!r} {place} (known: {', '.join(known)}){hint}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, but a key given twice is an error instead of the last one
    silently winning (a classic cause of "my env var is ignored")."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)
