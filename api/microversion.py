"""Microversions: what a request asked for, negotiated once per request.

Nova and Cinder read ``OpenStack-API-Version: <service> X.Y`` (Nova also the legacy
``X-OpenStack-Nova-API-Version``); no header means the minimum, ``latest`` the maximum,
and a version outside the range is refused with 406. Views and routes then ask
``at_least("2.47")`` instead of parsing headers themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import g, request

from nimbus.errors import NimbusError, NotFound

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class NotAcceptable(NimbusError):
    http_status = 406


@dataclass(frozen=True, order=True)
class APIVersion:
    """A major.minor version that compares numerically (2.10 > 2.9)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        found = _VERSION.match(text.strip())
        if found is None:
            raise ValueError(text)
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class VersionRange:
    """What one service supports, and the headers it reads and answers with."""

    service: str
    minimum: APIVersion
    maximum: APIVersion
    legacy_header: str | None = None

    def requested_text(self) -> str | None:
        for part in request.headers.get("OpenStack-API-Version", "").split(","):
            words = part.split()
            if len(words) == 2 and words[0].lower() == self.service:
                return words[1]
        if self.legacy_header:
            return request.headers.get(self.legacy_header)
        return None

    def negotiate(self) -> APIVersion:
        """The version this request runs at; 406 when it is outside the range."""
        text = self.requested_text()
        if text is None:
            return self.minimum
        if text.strip().lower() == "latest":
            return self.maximum
        try:
            wanted = APIVersion.parse(text)
        except ValueError:
            raise NotAcceptable(self._refusal(text)) from None
        if not self.minimum <= wanted <= self.maximum:
            raise NotAcceptable(self._refusal(text))
        return wanted

    def _refusal(self, text: str) -> str:
        return (
            f"Version {text} is not supported by the API. Minimum is {self.minimum}"
            f" and maximum is {self.maximum}."
        )


def bind(versions: VersionRange) -> APIVersion:
    """Negotiate this request's version and remember it for ``current``/``at_least``."""
    version = versions.negotiate()
    g.api_version = version
    return version


def current(default: APIVersion) -> APIVersion:
    """The version bound for this request, or ``default`` outside a negotiated request."""
    found = getattr(g, "api_version", None)
    return found if isinstance(found, APIVersion) else default


def at_least(text: str) -> bool:
    """Whether this request runs at version ``text`` or later (False when none was bound)."""
    found = getattr(g, "api_version", None)
    return isinstance(found, APIVersion) and found >= APIVersion.parse(text)


def require(text: str) -> None:
    """404, as Nova and Cinder answer, for a route this request's version does not have."""
    if not at_least(text):
        raise NotFound("The resource could not be found.")
