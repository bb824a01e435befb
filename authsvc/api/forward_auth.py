"""GET /verify: the token check for gateways (nginx auth_request, Traefik ForwardAuth, Envoy).

The gateway forwards each request's cookie or Authorization header here and, on 204, passes the
identity headers on to the service behind it, replacing whatever the client sent under those
names. The check is GET /session's (the same dependency), and nothing here sets a cookie.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from authsvc.api.deps import CHECKED_SECURITY, CheckedToken, checked_token
from authsvc.api.schemas import ErrorResponse
from authsvc.services.authentication import Authenticated

router = APIRouter(tags=["session"])

USER_HEADER = "X-Auth-User"
SESSION_HEADER = "X-Auth-Session"
ROLES_HEADER = "X-Auth-Roles"
AAL_HEADER = "X-Auth-AAL"

_IDENTITY_HEADERS: dict[str, Any] = {
    USER_HEADER: {"description": "The user's id (`sub`).", "schema": {"type": "string"}},
    SESSION_HEADER: {"description": "The session's id (`sid`).", "schema": {"type": "string"}},
    ROLES_HEADER: {
        "description": "The token's roles, comma-separated; empty when it has none.",
        "schema": {"type": "string"},
    },
    AAL_HEADER: {
        "description": "The login's assurance level: 1 (password) or 2 (a second factor).",
        "schema": {"type": "string"},
    },
}


@router.get(
    "/verify",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "The token is valid.", "headers": _IDENTITY_HEADERS},
        401: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    summary="Forward-auth for gateways: 204 with the identity in headers, or 401",
    openapi_extra=CHECKED_SECURITY,
)
async def verify(authenticated: CheckedToken) -> Response:
    return _identity(authenticated)


# Envoy's ext_authz appends the checked request's path to its path prefix (/verify/orders/7);
# the answer does not depend on it.
@router.get(
    "/verify/{forwarded_path:path}", include_in_schema=False, openapi_extra=CHECKED_SECURITY
)
async def verify_forwarded_path(authenticated: CheckedToken) -> Response:
    return _identity(authenticated)


async def verify_quick(request: Request) -> Response:
    """GET /verify (and /verify/...) as served, ahead of the routes above (`web/routes.py` says
    why)."""
    return _identity(await checked_token(request))


def _identity(authenticated: Authenticated) -> Response:
    claims = authenticated.claims
    return Response(
        status_code=204,
        headers={
            USER_HEADER: claims.sub,
            SESSION_HEADER: claims.sid,
            ROLES_HEADER: ",".join(claims.roles),
            AAL_HEADER: str(claims.aal),
            # Asked on every request: no cache between the gateway and us may answer for us.
            "Cache-Control": "no-store",
        },
    )
