"""The verifier's answers in a FastAPI app: `{"error", "detail"}` JSON like authsvc's own."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from authsvc.errors import AuthError, VerificationError, error_body


def error_response(error: AuthError) -> JSONResponse:
    """The answer authsvc itself gives, with the verifier's WWW-Authenticate and Retry-After."""
    http_error = VerificationError(error)
    return JSONResponse(
        error_body(http_error.code, error.detail),
        status_code=http_error.status_code,
        headers=http_error.headers,
    )


def install_error_handler(app: FastAPI) -> None:
    """Answer verifier errors as `{"error": code, "detail": msg}` instead of `{"detail": msg}`."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VerificationError)
        return JSONResponse(
            error_body(exc.code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(VerificationError, handle)
