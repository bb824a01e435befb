"""POST /password, and POST /register (mounted only when AUTHSVC_REGISTRATION=open)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from authsvc.api.deps import ClientDep, CurrentSession, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out
from authsvc.api.schemas import (
    CurrentSessionResponse,
    ErrorResponse,
    PasswordChangeRequest,
    RegisterRequest,
    UserOut,
)

router = APIRouter(tags=["account"])
registration_router = APIRouter(tags=["account"])


@router.post(
    "/password",
    response_model=CurrentSessionResponse,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    summary="Change the password; every other session ends, this one gets new tokens",
)
def change_password(
    body: PasswordChangeRequest,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> CurrentSessionResponse:
    # A plain `def`: argon2 runs in the threadpool, never on the event loop.
    changed = runtime.accounts.change_password(
        db,
        authenticated,
        body.current_password,
        body.new_password,
        client,
        now=runtime.clock.now(),
    )
    db.commit()
    session = hand_out(
        runtime,
        request,
        response,
        access=changed.access,
        session=changed.session,
        refresh_token=changed.refresh_token,
    )
    return CurrentSessionResponse(user=UserOut.model_validate(authenticated.user), session=session)


@registration_router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses={400: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Create an account (self-service sign-up); log in afterwards",
)
def register(body: RegisterRequest, runtime: RuntimeDep, db: DbDep, client: ClientDep) -> UserOut:
    user = runtime.accounts.register(
        db, body.username, body.password, client, now=runtime.clock.now()
    )
    db.commit()
    return UserOut.model_validate(user)
