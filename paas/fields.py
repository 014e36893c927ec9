"""One rule per app field, shared by the YAML manifest and the REST API's JSON body.

Each checker takes the raw value and a ``Where`` that words the error, so a message says
where the value came from, which key, and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nimbus.errors import InvalidSpec

MAX_INSTANCES = 100
MIN_MEMORY_MIB = 64
MAX_MEMORY_MIB = 8 * 1024
MAX_TIMEOUT = 600
HEALTH_TYPES = ("port", "process", "http")
BUILDPACKS = ("python", "static")
#: Cloud Foundry's own buildpack names, accepted so a CF manifest works unchanged.
BUILDPACK_ALIASES = {"python_buildpack": "python", "staticfile_buildpack": "static"}
RESERVED_ENV_PREFIXES = ("NIMBUS_", "VCAP_", "CF_")
#: Set by the platform in every instance; a user value would be overwritten or break it.
RESERVED_ENV_NAMES = ("PORT", "INSTANCE_INDEX", "PATH", "HOME", "PYTHONPATH")

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MEMORY = re.compile(r"(\d+)\s*(M|MB|G|GB)", re.IGNORECASE)


@dataclass(frozen=True)
class Where:
    """Words errors for one source: ``manifest: 'instances' must be ...``."""

    source: str = "manifest"

    def error(self, message: str) -> InvalidSpec:
        """An InvalidSpec whose message starts with the source."""
        return InvalidSpec(f"{self.source}: {message}")

    def wrong(self, key: str, expected: str, value: Any) -> InvalidSpec:
        """An InvalidSpec saying what ``key`` must be and quoting what it was."""
        return self.error(f"'{key}' must be {expected}, not {value!r}")


def app_name(value: Any, where: Where) -> str:
    """A CF-like app name, usable as a host-name label."""
    expected = "a name of 1 to 63 letters, digits or '-' that starts with a letter"
    if not isinstance(value, str):
        raise where.wrong("name", expected, value)
    if value.lower() != value and _NAME.fullmatch(value.lower()):
        raise where.wrong("name", "lower-case (it becomes part of host names)", value)
    if not _NAME.fullmatch(value) or value.endswith("-"):
        raise where.wrong("name", expected + " and does not end with '-'", value)
    return value


def integer(key: str, value: Any, low: int, high: int, where: Where) -> int:
    """An integer in ``[low, high]``; booleans are not integers here."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise where.wrong(key, f"an integer from {low} to {high}", value)
    return value


def memory_mib(value: Any, where: Where) -> int:
    """A memory size with a unit (M, MB, G, GB, any case) as whole MiB."""
    match = _MEMORY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise where.wrong("memory", "a size with a unit M, MB, G or GB, such as 256M", value)
    mib = int(match[1]) * (1024 if match[2].upper().startswith("G") else 1)
    if not MIN_MEMORY_MIB <= mib <= MAX_MEMORY_MIB:
        raise where.wrong("memory", f"from {MIN_MEMORY_MIB}M to {MAX_MEMORY_MIB // 1024}G", value)
    return mib


def command(value: Any, where: Where) -> str | None:
    """An optional start command: a non-empty single-line string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value or "\0" in value:
        raise where.wrong("command", "a non-empty command on one line", value)
    return value.strip()


def env(value: Any, where: Where) -> dict[str, str]:
    """User environment: shell-identifier keys outside the reserved ones; scalar values
    turned to strings as Cloud Foundry does (``true``, ``8``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.wrong("env", "a mapping of names to values", value)
    return {env_key(k, where): env_value(k, v, where) for k, v in value.items()}


def env_key(key: Any, where: Where) -> str:
    """One environment variable name."""
    if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
        raise where.wrong("env", "keyed by names of letters, digits and '_'", key)
    if key.upper() in RESERVED_ENV_NAMES or key.upper().startswith(RESERVED_ENV_PREFIXES):
        reserved = ", ".join((*RESERVED_ENV_NAMES, *(p + "*" for p in RESERVED_ENV_PREFIXES)))
        raise where.error(f"'env' key {key!r} is reserved for the platform ({reserved})")
    return key


def env_value(key: str, value: Any, where: Where) -> str:
    """One environment value as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise where.wrong(f"env.{key}", "a string, number or boolean", value)


def routes(value: Any, where: Where) -> tuple[str, ...]:
    """Routes as CF lists them (``[{route: host}]``), each a host name, none twice."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.wrong("routes", "a list of {route: host-name} entries", value)
    hosts = tuple(route(entry, where) for entry in value)
    twice = sorted({h for h in hosts if hosts.count(h) > 1})
    if twice:
        raise where.error(f"'routes' lists {twice[0]!r} more than once")
    return hosts


def route(entry: Any, where: Where) -> str:
    """One ``{route: host}`` entry as a lower-case host name."""
    if not isinstance(entry, dict) or set(entry) != {"route"}:
        raise where.wrong("routes", "entries of the form {route: host-name}", entry)
    return host_name(entry["route"], where)


def host_name(value: Any, where: Where) -> str:
    """A DNS host name of at least two labels (``app.apps.example``), lower-cased."""
    host = value.lower() if isinstance(value, str) else None
    labels = host.split(".") if host else []
    valid = len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)
    if host is None or not valid or len(host) > 253:
        raise where.wrong("routes", "host names such as app.apps.example", value)
    return host


def health_type(value: Any, where: Where) -> str:
    """One of port (default), process, http."""
    if value is None:
        return "port"
    if value not in HEALTH_TYPES:
        raise where.wrong("health-check-type", " or ".join(HEALTH_TYPES), value)
    return str(value)


def health_endpoint(value: Any, kind: str, where: Where) -> str:
    """The HTTP health path, only meaningful for the http health check."""
    key = "health-check-http-endpoint"
    if value is None:
        return "/"
    if kind != "http":
        raise where.error(f"'{key}' applies only to health-check-type http, not {kind!r}")
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 255:
        raise where.wrong(key, "a path starting with '/'", value)
    if any(c.isspace() for c in value):
        raise where.wrong(key, "a path without spaces", value)
    return value


def buildpack(value: Any, where: Where) -> str | None:
    """The ``buildpacks`` list: absent (detect) or exactly one known buildpack."""
    if value is None or value == []:
        return None
    expected = f"a list of one buildpack ({' or '.join(BUILDPACKS)})"
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
        raise where.wrong("buildpacks", expected, value)
    name = BUILDPACK_ALIASES.get(value[0], value[0])
    if name not in BUILDPACKS:
        raise where.wrong("buildpacks", expected, value)
    return name
