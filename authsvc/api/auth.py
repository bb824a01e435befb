"""POST /login, POST /logout, GET /session; they set and clear both cookies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from authsvc.api.deps import ClientDep, CurrentSession, DbDep, OptionalSession, RuntimeDep
from authsvc.api.forms import login_request_body, read_login_request
from authsvc.api.issuing import hand_out
from authsvc.api.schemas import (
    CurrentSessionResponse,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    LogoutResponse,
    SessionOut,
    UserOut,
)
from authsvc.errors import InvalidCredentials, SessionActive, TooManyAttempts
from authsvc.observability import audit
from authsvc.services import auth
from authsvc.services.users import normalise_username

router = APIRouter(tags=["session"])

_UNAUTHORISED: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse}}
_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    415: {"model": ErrorResponse},
}


@router.post(
    "/login",
    response_model=LoginResponse,
    response_model_exclude_none=True,
    responses={
        **_UNAUTHORISED,
        **_BAD_INPUT,
        409: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    openapi_extra={"requestBody": login_request_body()},
    summary="Log in with username and password; sets the access-token cookie",
)
def login(
    request: Request,
    response: Response,
    body: Annotated[LoginRequest, Depends(read_login_request)],
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    previous: OptionalSession,
) -> LoginResponse:
    # A plain `def`: FastAPI runs it in the threadpool, so argon2 never blocks the event loop.
    account, now = normalise_username(body.username), runtime.clock.now()
    try:
        # Before any hashing, so a throttled attacker costs us nothing.
        runtime.throttle.check(account, client.ip, now)
    except TooManyAttempts:
        audit.record(db, "login_throttled", now=now, client=client)
        db.commit()
        raise
    try:
        result = auth.login(
            db,
            runtime.hasher,
            runtime.keys.ring,
            runtime.token_policy,
            runtime.lifetimes,
            username=body.username,
            password=body.password,
            remember=body.remember,
            client=client,
            now=now,
            single_session=runtime.settings.single_session,
            replaces_session=previous.claims.sid if previous is not None else None,
        )
    except InvalidCredentials:
        runtime.throttle.failed(account, client.ip, now)
        db.commit()  # keep the audit record of the failed attempt
        raise
    except SessionActive:
        # The password was right: not a guess to count, but still an event to keep.
        db.commit()
        raise
    db.commit()
    runtime.throttle.succeeded(account, client.ip, now)
    hand_out(
        runtime,
        request,
        response,
        access=result.access,
        session=result.session,
        refresh_token=result.refresh_token,
    )
    return LoginResponse(
        user=UserOut.model_validate(result.user),
        session=SessionOut(
            id=result.session.id, expires_at=result.access.expires_at, state=result.session.state
        ),
        access_token=result.access.token if runtime.settings.expose_token_in_body else None,
    )


@router.post(
    "/logout",
    response_model=LogoutResponse,
    responses={503: {"model": ErrorResponse}},
    summary="Clear the cookie and end this session; everywhere=true revokes every token",
)
def logout(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: OptionalSession,
    everywhere: Annotated[bool, Query()] = False,
) -> LogoutResponse:
    logged_out = auth.logout(
        db,
        authenticated,
        everywhere=everywhere,
        client=client,
        now=runtime.clock.now(),
        refresh_token=runtime.cookies.read_refresh(request),
    )
    db.commit()
    if logged_out:
        runtime.metrics.revoked("token_version" if everywhere else "session")
    runtime.cookies.clear_all(response, request)
    # Browsers also drop every other cookie of ours (the CSRF token, anything added later).
    response.headers["Clear-Site-Data"] = '"cookies"'
    return LogoutResponse(everywhere=everywhere and logged_out)


@router.get(
    "/session",
    response_model=CurrentSessionResponse,
    responses={**_UNAUTHORISED, 503: {"model": ErrorResponse}},
    summary="The current user and session state",
)
def current_session(authenticated: CurrentSession) -> CurrentSessionResponse:
    # The identity, not the row: with the token-version cache on, a hit needs no database read.
    user, claims = authenticated.identity, authenticated.claims
    return CurrentSessionResponse(
        user=UserOut.model_validate(user),
        session=SessionOut(
            id=claims.sid,
            expires_at=datetime.fromtimestamp(claims.exp, UTC),
            state=dict(claims.sess),
        ),
    )
