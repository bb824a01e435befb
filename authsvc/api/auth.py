"""POST /login, POST /logout, GET /session; they set and clear both cookies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from authsvc.api.admission import LOGIN_SLOT
from authsvc.api.deps import (
    CHECKED_SECURITY,
    CheckedIdentity,
    ClientDep,
    DbDep,
    OptionalSession,
    RuntimeDep,
    checked_identity,
)
from authsvc.api.forms import login_request_body, read_login_request
from authsvc.api.issuing import signed_in
from authsvc.api.mfa_schemas import SecondStepResponse
from authsvc.api.schemas import (
    CurrentSessionResponse,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    LogoutResponse,
    SessionOut,
    UserOut,
)
from authsvc.api.step_cookie import set_step
from authsvc.errors import NotAuthenticated, SecondStepDue
from authsvc.errors.responses import error_response
from authsvc.services import logout as logout_service
from authsvc.services.authentication import Authenticated
from authsvc.services.login import Credentials
from authsvc.web.redirects import safe_next

router = APIRouter(tags=["session"])
# Where a sign-out form lands when its `next` is missing or not safe to follow.
SIGN_IN_PAGE = "/ui/login"

_UNAUTHORISED: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse}}
_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    415: {"model": ErrorResponse},
}


@router.post(
    "/login",
    dependencies=[LOGIN_SLOT],
    response_model=LoginResponse | SecondStepResponse,
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
) -> LoginResponse | SecondStepResponse:
    # A plain `def`: FastAPI runs it in the threadpool, so argon2 never blocks the event loop.
    try:
        result = runtime.login.login(
            db,
            Credentials(body.username, body.password, body.remember),
            client,
            now=runtime.clock.now(),
            replaces_session=previous.claims.sid if previous is not None else None,
        )
    except SecondStepDue as due:
        # The password was right; no session yet, only the step cookie (see /login/mfa).
        db.commit()
        set_step(runtime, request, response, due.token, due.expires_in)
        enrol = due.purpose == "enrol"
        return SecondStepResponse(
            mfa_required=True,
            mfa_enrolment_required=enrol,
            factors=["totp"] if enrol else due.factors,
            expires_in=due.expires_in,
        )
    db.commit()
    return signed_in(runtime, request, response, result, LoginResponse)


@router.post(
    "/logout",
    response_model=LogoutResponse,
    responses={
        303: {"description": "Signed out; the browser goes on to `next` (a sign-out form)."},
        401: {
            "model": ErrorResponse,
            "description": (
                "`not_authenticated`: everywhere=true, but neither the access token nor the "
                "refresh cookie names a live session, so nothing was revoked (the cookies are "
                "cleared all the same)."
            ),
        },
        503: {"model": ErrorResponse},
    },
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
    next_url: Annotated[
        str | None,
        Query(
            alias="next",
            max_length=2048,
            description=(
                "Where a sign-out form sends the browser afterwards (303): a path on this "
                "service or a URL on an allowed origin; anything else goes to the sign-in page "
                "(or, with the hosted pages off, gets the JSON answer)."
            ),
        ),
    ] = None,
) -> LogoutResponse | Response:
    logged_out = logout_service.logout(
        db,
        authenticated,
        runtime.cookies.read_refresh(request),
        client,
        everywhere=everywhere,
        now=runtime.clock.now(),
    )
    db.commit()
    if logged_out:
        runtime.metrics.revoked("token_version" if everywhere else "session")
    answer: Response = response
    if everywhere and not logged_out:
        # Nothing could be revoked: a client that checks only the status must not take this
        # for done while the user's other devices stay signed in.
        answer = error_response(
            NotAuthenticated(
                "No live session here to log out everywhere from: sign in again, then retry."
            )
        )
    if next_url is not None:
        fallback = SIGN_IN_PAGE if runtime.settings.ui else None
        target = safe_next(next_url, runtime.settings.effective_allowed_origins()) or fallback
        if target is not None:
            answer = RedirectResponse(target, status_code=303)
    runtime.cookies.clear_all(answer, request)
    # Browsers also drop every other cookie of ours (the CSRF token, anything added later).
    answer.headers["Clear-Site-Data"] = '"cookies"'
    if answer is not response:
        return answer
    return LogoutResponse(everywhere=everywhere and logged_out)


@router.get(
    "/session",
    response_model=CurrentSessionResponse,
    responses={**_UNAUTHORISED, 503: {"model": ErrorResponse}},
    summary="The current user and session state",
    openapi_extra=CHECKED_SECURITY,
)
async def current_session(authenticated: CheckedIdentity) -> Response:
    return _session_answer(authenticated)


async def current_session_quick(request: Request) -> Response:
    """GET /session as served, ahead of the route above (`web/routes.py` says why)."""
    return _session_answer(await checked_identity(request))


def _session_answer(authenticated: Authenticated) -> Response:
    # The identity, not the row: with the token-version cache on, a hit needs no database read.
    # The answer is serialised here: FastAPI would validate the model it was handed a second
    # time against `response_model` (kept for the schema), a cost on the busiest route.
    user, claims = authenticated.identity, authenticated.claims
    body = CurrentSessionResponse(
        user=UserOut.model_validate(user),
        session=SessionOut(
            id=claims.sid,
            expires_at=datetime.fromtimestamp(claims.exp, UTC),
            state=dict(claims.sess),
        ),
    )
    return Response(body.model_dump_json(by_alias=True), media_type="application/json")
