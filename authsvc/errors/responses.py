"""The one rendering of an error, and what the framework's own refusals stand for."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from authsvc.errors.base import (
    AuthError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from authsvc.errors.verifier import VerificationError

# The key in the request's state (`scope["state"]`) that names the error answered.
ERROR_CODE_STATE = "error_code"


# What the framework's own refusals (unknown route, wrong method, unparsable body) stand for.
_FRAMEWORK_STATUSES: dict[int, type[AuthError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def framework_error(error: HTTPException) -> AuthError:
    """The AuthError a Starlette/FastAPI HTTPException stands for; anything else is a 500."""
    if isinstance(error, VerificationError):
        return error.error
    kind = _FRAMEWORK_STATUSES.get(error.status_code)
    if kind is None:
        return AuthError()
    return kind(str(error.detail), headers=dict(error.headers or {}))


class _ErrorJSONResponse(JSONResponse):
    """`{"error": code, "detail": message}`; sending it records the code in the request state."""

    def __init__(self, error: AuthError, headers: dict[str, str] | None = None):
        super().__init__(
            {"error": error.code, "detail": error.detail},
            status_code=error.status,
            headers={**error.headers, **(headers or {})},
        )
        self.code = error.code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every error answer passes here, so every one is labelled by its code.
        scope.setdefault("state", {})[ERROR_CODE_STATE] = self.code
        await super().__call__(scope, receive, send)


def error_response(error: AuthError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one rendering of an error: `{"error": code, "detail": message}` with its status."""
    return _ErrorJSONResponse(error, headers)
