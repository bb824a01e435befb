"""HTTP answers of the verifier: a FastAPI dependency error and its JSON rendering."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from authsvc.errors import AuthError


class VerificationError(HTTPException):
    """An AuthError as FastAPI understands it; `code` is authsvc's stable error code."""

    def __init__(self, error: AuthError):
        headers = dict(error.headers)
        if error.status == 401:
            # RFC 6750 section 3: tell the client why its bearer token was not accepted.
            headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
        elif error.status == 503:
            headers.setdefault("Retry-After", "1")
        super().__init__(status_code=error.status, detail=error.detail, headers=headers)
        self.code = error.code


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def error_response(error: AuthError) -> JSONResponse:
    """The `{"error", "detail"}` answer authsvc itself gives, with the same headers."""
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
