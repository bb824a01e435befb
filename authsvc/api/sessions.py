"""POST /refresh, GET /sessions, DELETE /sessions/{sid}, PATCH /session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from authsvc.api.deps import ClientDep, CurrentSession, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out, signed_in
from authsvc.api.schemas import (
    CurrentSessionResponse,
    DeviceOut,
    ErrorResponse,
    RefreshResponse,
    SessionsResponse,
    UserOut,
)
from authsvc.errors import (
    BadRequest,
    InvalidRefreshToken,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response,
)
from authsvc.services import refresh as refresh_service
from authsvc.services import sessions
from authsvc.storage.engine import kept_when_refused
from authsvc.web.json_body import strict_loads

router = APIRouter(tags=["session"])

_JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})


@router.post(
    "/refresh",
    response_model=RefreshResponse,
    response_model_exclude_none=True,
    responses={401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Rotate the refresh token (cookie) and issue a fresh access token",
)
def refresh(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
) -> RefreshResponse | JSONResponse:
    try:
        presented = runtime.cookies.read_refresh(request)
        result = refresh_service.refresh(
            db,
            runtime.issuer,
            presented,
            client,
            now=runtime.clock.now(),
            needs_second_factor=runtime.mfa.rules.must_have_factor,
        )
    except InvalidRefreshToken as exc:
        # The service kept what must outlive the refusal (a reused token's ended session).
        if kept_when_refused(db):
            db.commit()
        failure = error_response(exc)
        runtime.cookies.clear_all(failure, request)
        return failure
    db.commit()
    return signed_in(runtime, request, response, result, RefreshResponse)


@router.get(
    "/sessions",
    response_model=SessionsResponse,
    responses={401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="The user's live sessions (devices), most recently used first",
)
def list_sessions(
    runtime: RuntimeDep, db: DbDep, authenticated: CurrentSession
) -> SessionsResponse:
    rows = sessions.list_alive(db, authenticated.user.id, now=runtime.clock.now())
    return SessionsResponse(
        sessions=[
            DeviceOut.model_validate(sessions.describe(row, authenticated.claims.sid))
            for row in rows
        ]
    )


@router.delete(
    "/sessions/{sid}",
    status_code=204,
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="End one of the user's sessions: its refresh token dies at once",
)
def end_session(
    sid: str,
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> Response:
    sessions.end_own_session(db, authenticated.user.id, sid, client=client, now=runtime.clock.now())
    db.commit()
    response = Response(status_code=204)
    if sid == authenticated.claims.sid:
        runtime.cookies.clear_all(response, request)
    return response


async def read_state_patch(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """A JSON object, size-checked before parsing; the merged size is checked by the service."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise UnsupportedMediaType("Send the session state patch as application/json.")
    limit = 2 * runtime.settings.session_state_max_bytes + 256
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"A session state patch has at most {limit} bytes.")
    data = strict_loads(raw)
    if not isinstance(data, dict):
        raise BadRequest("The session state patch must be a JSON object.")
    return data


@router.patch(
    "/session",
    response_model=CurrentSessionResponse,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "JSON merge patch (RFC 7396): null removes a member.",
                    }
                }
            },
        }
    },
    summary="Merge into the session state carried in the token; re-issues the access cookie",
)
def patch_session(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    authenticated: CurrentSession,
    patch: Annotated[dict[str, Any], Depends(read_state_patch)],
) -> CurrentSessionResponse:
    updated = sessions.update_state(
        db,
        runtime.issuer,
        authenticated,
        patch,
        max_bytes=runtime.settings.session_state_max_bytes,
        now=runtime.clock.now(),
    )
    db.commit()
    session = hand_out(runtime, request, response, access=updated.access, session=updated.session)
    return CurrentSessionResponse(user=UserOut.model_validate(authenticated.user), session=session)
