"""The step cookie: the browser's half of a login waiting for its second factor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authsvc.runtime import Runtime

STEP_COOKIE = "authsvc_mfa"


def _name(runtime: Runtime, request: Request) -> str:
    # __Host- where Secure holds: no sibling subdomain can plant or overwrite the step.
    if runtime.cookies.is_secure(request) and runtime.cookies.domain is None:
        return f"__Host-{STEP_COOKIE}"
    return STEP_COOKIE


def read_step(runtime: Runtime, request: Request) -> str | None:
    return request.cookies.get(_name(runtime, request))


def set_step(
    runtime: Runtime, request: Request, response: Response, token: str, max_age: int
) -> None:
    response.set_cookie(
        _name(runtime, request),
        token,
        max_age=max_age,
        path="/",
        secure=runtime.cookies.is_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"


def clear_step(runtime: Runtime, request: Request, response: Response) -> None:
    response.delete_cookie(
        _name(runtime, request),
        path="/",
        secure=runtime.cookies.is_secure(request),
        httponly=True,
        samesite="strict",
    )
