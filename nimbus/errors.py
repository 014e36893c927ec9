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


class NimbusError(Exception):
    """Base of every error Nimbus raises on purpose."""

    http_status = 500


class NotFound(NimbusError):
    http_status = 404


class Conflict(NimbusError):
    http_status = 409


class QuotaExceeded(NimbusError):
    http_status = 403


class InvalidSpec(NimbusError):
    http_status = 400


class BackendUnavailable(NimbusError):
    http_status = 503


#: Error type names Temporal must not retry (``RetryPolicy.non_retryable_error_types``).
NON_RETRYABLE = ["NotFound", "Conflict", "QuotaExceeded", "InvalidSpec"]
