"""One exception hierarchy. Adapters translate AWS errors into it; the HTTP
layer turns it into answers in one place (oms.http)."""

from __future__ import annotations


class OmsError(Exception):
    """Base of every error the OMS raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(OmsError):
    status_code = 400
    code = "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidEncoding(BadRequest):
    code = "invalid_encoding"


class TooDeep(BadRequest):
    code = "too_deeply_nested"


class Unauthorized(OmsError):
    status_code = 401
    code = "unauthorized"


class Forbidden(OmsError):
    status_code = 403
    code = "forbidden"


class NotFound(OmsError):
    status_code = 404
    code = "not_found"


class Conflict(OmsError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(OmsError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(OmsError):
    """Well formed, but refused for what it would do (a rule set that would stop the OMS)."""

    status_code = 422
    code = "validation_failed"


class TooManyRequests(OmsError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None, details: object | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after  # seconds, sent as the Retry-After header


class UnsupportedMediaType(OmsError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class NormalizationError(OmsError):
    """A verified payload that cannot become a canonical order. Quarantined, never retried blindly."""

    status_code = 422
    code = "normalization_failed"


class StaleWrite(OmsError):
    """A conditional write lost to a newer version; the caller re-reads and decides."""

    status_code = 409
    code = "stale_write"


class DependencyError(OmsError):
    """An AWS call failed in a way worth retrying (throttling, 5xx). Propagates to retries and DLQs."""

    status_code = 503
    code = "dependency_unavailable"
