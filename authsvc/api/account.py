"""GET and PATCH /account, POST /password, and POST /register (mounted only when
AUTHSVC_REGISTRATION=open)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from authsvc.api.admission import PASSWORD_SLOT, REGISTRATION_SLOT
from authsvc.api.deps import ClientDep, CurrentSession, DbDep, RuntimeDep, StepUpSession
from authsvc.api.issuing import hand_out_tokens
from authsvc.api.schemas import (
    AccountOut,
    AccountUpdateRequest,
    AccountUpdateResponse,
    CurrentSessionResponse,
    ErrorResponse,
    PasswordChangeRequest,
    RegisterRequest,
    UserOut,
)
from authsvc.storage.models import User

router = APIRouter(tags=["account"])
registration_router = APIRouter(tags=["account"])


def _account(user: User) -> AccountOut:
    return AccountOut(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        roles=user.roles,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
    )


@router.get(
    "/account",
    response_model=AccountOut,
    responses={401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="The signed-in user's account: username, email address and whether it is verified",
)
def get_account(authenticated: CurrentSession) -> AccountOut:
    return _account(authenticated.user)


@router.patch(
    "/account",
    dependencies=[PASSWORD_SLOT],
    response_model=AccountUpdateResponse,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    summary="Change the email address (the password is required); a new one ends other sessions",
)
def update_account(
    body: AccountUpdateRequest,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: StepUpSession,
) -> AccountUpdateResponse:
    now = runtime.clock.now()
    renewed = runtime.accounts.change_email(
        db, authenticated, body.current_password, body.email, client, now=now
    )
    db.commit()
    user = authenticated.user
    if renewed is None:
        return AccountUpdateResponse(account=_account(user), session=None)
    if user.email is not None and runtime.verification is not None:
        runtime.verification.send_link(user.id, client, now=now)
    session = hand_out_tokens(runtime, request, response, renewed)
    return AccountUpdateResponse(account=_account(user), session=session)


@router.post(
    "/password",
    dependencies=[PASSWORD_SLOT],
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
    authenticated: StepUpSession,
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
    session = hand_out_tokens(runtime, request, response, changed)
    return CurrentSessionResponse(user=UserOut.model_validate(authenticated.user), session=session)


@registration_router.post(
    "/register",
    dependencies=[REGISTRATION_SLOT],
    status_code=201,
    response_model=UserOut,
    responses={400: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Create an account (self-service sign-up); log in afterwards",
)
def register(body: RegisterRequest, runtime: RuntimeDep, db: DbDep, client: ClientDep) -> UserOut:
    now = runtime.clock.now()
    user = runtime.accounts.register(
        db, body.username, body.password, client, now=now, email=body.email
    )
    db.commit()
    if user.email is not None and runtime.verification is not None:
        runtime.verification.send_link(user.id, client, now=now)
    return UserOut.model_validate(user)
