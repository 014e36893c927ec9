"""The one error tree of Nimbus.

    NimbusError
     +-- NotFound            the object does not exist (HTTP 404); not retried
     +-- Conflict            the object's state forbids the operation (409); not retried
     +-- QuotaExceeded       over the project's quota (403, as Nova answers); not retried
     +-- InvalidSpec         the request or spec is malformed (400); not retried
     +-- BackendUnavailable  a backend is down or timed out (503); retried

Drivers translate their backend's exceptions into this tree in one place
(``raise ... from exc``); the API maps the tree to HTTP statuses in one place; activities
let Temporal retry only ``BackendUnavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class NimbusError(Exception):
    """Base of every error Nimbus raises on purpose."""

    http_status = 500


class NotFound(NimbusError):
    http_status = 404


class Conflict(NimbusError):
    http_status = 409


@dataclass(frozen=True)
class Over:
    """One resource a request would take past its limit."""

    resource: str
    requested: int
    used: int
    limit: int


class QuotaExceeded(NimbusError):
    """Refused by quota; ``overs`` names each resource, so each API words it its own way."""

    http_status = 403

    def __init__(self, message: str = "", overs: Sequence[Over] = ()) -> None:
        self.overs = tuple(overs)
        super().__init__(message or nova_quota_message(self.overs))


def nova_quota_message(overs: Sequence[Over]) -> str:
    """Nova's wording: ``Quota exceeded for instances: Requested 1, but already used 10
    of 10 instances``."""

    def joined(attr: str) -> str:
        return ", ".join(str(getattr(o, attr)) for o in overs)

    return (
        f"Quota exceeded for {joined('resource')}: Requested {joined('requested')},"
        f" but already used {joined('used')} of {joined('limit')} {joined('resource')}"
    )


class InvalidSpec(NimbusError):
    http_status = 400


class BackendUnavailable(NimbusError):
    http_status = 503


#: Error type names Temporal must not retry (``RetryPolicy.non_retryable_error_types``).
#: Temporal matches the exact class name, so subclasses are listed too (``StagingError``,
#: an InvalidSpec raised by ``paas.buildpacks``).
NON_RETRYABLE = ["NotFound", "Conflict", "QuotaExceeded", "InvalidSpec", "StagingError"]
