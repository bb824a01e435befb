"""Errors the service reports to clients, each with a stable machine-readable code.

Services raise these; one handler in `app.py` turns them into `{"error": code, "detail": msg}`.

AuthError
 ├── BadRequest (400 invalid_request)
 │    ├── UnsupportedMediaType (415 unsupported_media_type)
 │    └── WeakPassword (400 weak_password)
 ├── PayloadTooLarge (413 payload_too_large)
 │    └── SessionStateTooLarge (413 session_state_too_large)
 ├── InvalidCredentials (401 invalid_credentials)
 ├── NotAuthenticated (401 not_authenticated)
 ├── InvalidToken (401 invalid_token)
 │    ├── TokenExpired (401 token_expired)
 │    ├── TokenRevoked (401 token_revoked)
 │    │    └── SessionEnded (401 session_ended)
 │    ├── KeyRevoked (401 key_revoked)
 │    └── KeyRetired (401 key_retired)
 ├── InvalidRefreshToken (401 invalid_refresh_token)
 │    ├── SessionExpired (401 session_expired)
 │    └── RefreshTokenReused (401 refresh_token_reused)
 ├── Forbidden (403 forbidden)
 │    └── CsrfFailed (403 csrf_failed)
 ├── NotFound (404 not_found)
 ├── Conflict (409 conflict)
 │    └── SessionActive (409 session_active)
 ├── ServiceUnavailable (503 service_unavailable)
 │    └── VerifierUnavailable (503 service_unavailable; authsvc.verify.sources)
 ├── InvalidClient (401 invalid_client)
 └── TooManyAttempts (429 too_many_attempts)
"""

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


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    status = 401
    # The same words for an unknown user, a wrong password and a disabled account.
    default_detail = "Invalid username or password."


class NotAuthenticated(AuthError):
    code = "not_authenticated"
    status = 401
    default_detail = "No access token was presented."


class InvalidToken(AuthError):
    code = "invalid_token"
    status = 401
    default_detail = "The access token is not valid."


class TokenExpired(InvalidToken):
    code = "token_expired"
    default_detail = "The access token has expired."


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    default_detail = "The access token has been revoked."


class Forbidden(AuthError):
    code = "forbidden"
    status = 403
    default_detail = "Not allowed."


class NotFound(AuthError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class Conflict(AuthError):
    code = "conflict"
    status = 409
    default_detail = "The request conflicts with the current state."


class ServiceUnavailable(AuthError):
    code = "service_unavailable"
    status = 503
    default_detail = "The service is temporarily unavailable."


# --- issue3: signing keys ---


class KeyRevoked(InvalidToken):
    code = "key_revoked"
    default_detail = "The access token was signed by a key that has been revoked."


class KeyRetired(InvalidToken):
    code = "key_retired"
    default_detail = "The access token was signed by a key that has been retired."


# --- issue5: refresh tokens, sessions, passwords ---


class WeakPassword(BadRequest):
    code = "weak_password"
    default_detail = "The password does not meet the password policy."


class SessionStateTooLarge(PayloadTooLarge):
    code = "session_state_too_large"
    default_detail = "The session state is too large."


class SessionEnded(TokenRevoked):
    code = "session_ended"
    default_detail = "This session has ended; log in again."


class InvalidRefreshToken(AuthError):
    code = "invalid_refresh_token"
    status = 401
    default_detail = "The refresh token is missing, unknown or revoked; log in again."


class SessionExpired(InvalidRefreshToken):
    code = "session_expired"
    default_detail = "The session has expired; log in again."


class RefreshTokenReused(InvalidRefreshToken):
    code = "refresh_token_reused"
    default_detail = "This refresh token was already used; the session has been ended."


class SessionActive(Conflict):
    code = "session_active"
    default_detail = "Another session of this account is active; log out there first."


# --- issue4: downstream verification ---
class InvalidClient(AuthError):
    """RFC 6749 section 5.2: the calling client (e.g. of POST /introspect) did not authenticate."""

    code = "invalid_client"
    status = 401
    default_detail = "Client authentication failed."

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="authsvc"'})


# --- issue6: security hardening ---


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    default_detail = "Cross-site request refused: send it from an allowed origin with its token."


class TooManyAttempts(AuthError):
    code = "too_many_attempts"
    status = 429
    # The same words whether or not the account exists.
    default_detail = "Too many failed login attempts; try again later."
