"""The verifier's answers in a FastAPI app: `{"error", "detail"}` JSON like authsvc's own."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from authsvc.errors import AuthError, VerificationError, challenge_headers, error_response


def verifier_response(error: AuthError) -> Response:
    """The answer authsvc itself gives, with the verifier's WWW-Authenticate and Retry-After."""
    return error_response(error, headers=challenge_headers(error))


def install_error_handler(app: FastAPI) -> None:
    """Answer verifier errors as `{"error": code, "detail": msg}` instead of `{"detail": msg}`."""

    async def handle(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VerificationError)
        return error_response(exc.error, headers=dict(exc.headers or {}))

    app.add_exception_handler(VerificationError, handle)
