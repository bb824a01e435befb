"""AuthError, the base of every error a client may see, and the errors of plain HTTP."""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """Base of every error a client may see; `detail` is safe to show."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_detail: ClassVar[str] = "Internal error."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(AuthError):
    code = "invalid_request"
    status = 400
    default_detail = "The request is malformed."


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"
    status = 415
    default_detail = "Send application/json or application/x-www-form-urlencoded."


class PayloadTooLarge(AuthError):
    code = "payload_too_large"
    status = 413
    default_detail = "The request body is too large."


class NotAuthenticated(AuthError):
    code = "not_authenticated"
    status = 401
    default_detail = "No access token was presented."


class InvalidClient(AuthError):
    """RFC 6749 section 5.2: the calling client (e.g. of POST /introspect) did not authenticate."""

    code = "invalid_client"
    status = 401
    default_detail = "Client authentication failed."

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="authsvc"'})


class Forbidden(AuthError):
    code = "forbidden"
    status = 403
    default_detail = "Not allowed."


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    default_detail = "Cross-site request refused: send it from an allowed origin with its token."


class NotFound(AuthError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class MethodNotAllowed(AuthError):
    code = "method_not_allowed"
    status = 405
    default_detail = "Method Not Allowed"


class Conflict(AuthError):
    code = "conflict"
    status = 409
    default_detail = "The request conflicts with the current state."


class TooManyAttempts(AuthError):
    code = "too_many_attempts"
    status = 429
    # The same words whether or not the account exists.
    default_detail = "Too many failed login attempts; try again later."


class ServiceUnavailable(AuthError):
    code = "service_unavailable"
    status = 503
    default_detail = "The service is temporarily unavailable."
