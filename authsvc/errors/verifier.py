"""Errors of checking a token downstream, and the verifier's FastAPI face of an AuthError."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from authsvc.errors.base import AuthError, ServiceUnavailable


class VerifierUnavailable(ServiceUnavailable):
    """The token-version source or the key set cannot answer; nobody is authenticated."""

    default_detail = "The session store is unavailable; try again shortly."


class HttpError(Exception):
    """The request did not produce a usable answer (network, size, scheme)."""


class DiscoveryError(Exception):
    """The issuer's metadata or key set cannot be fetched or is not acceptable."""


class VerificationError(HTTPException):
    """An AuthError as FastAPI understands it; `code` is authsvc's stable error code."""

    def __init__(self, error: AuthError):
        super().__init__(
            status_code=error.status, detail=error.detail, headers=challenge_headers(error)
        )
        self.error = error
        self.code = error.code


def challenge_headers(error: AuthError) -> dict[str, str]:
    """The verifier's headers: why a bearer token was refused (401), when to retry (503)."""
    headers = dict(error.headers)
    if error.status == 401:
        # RFC 6750 section 3: tell the client why its bearer token was not accepted.
        headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
    elif error.status == 503:
        headers.setdefault("Retry-After", "1")
    return headers
