"""Password reset and address confirmation by mail. Mounted only with AUTHSVC_SMTP_URL: without
a relay these paths answer 404 and the discovery document leaves them out."""

from __future__ import annotations

from fastapi import APIRouter

from authsvc.api.admission import PASSWORD_SLOT
from authsvc.api.deps import ClientDep, CurrentSession, DbDep, RuntimeDep
from authsvc.api.schemas import (
    AcceptedResponse,
    DoneResponse,
    ErrorResponse,
    ForgotPasswordRequest,
    ResetPasswordRequest,
    VerifyEmailRequest,
)
from authsvc.errors import NotFound
from authsvc.runtime import Runtime
from authsvc.services.recovery import PasswordRecovery
from authsvc.services.verification import EmailVerification

router = APIRouter(tags=["account"])

# One answer whatever became of the request: it tells nobody whether the account exists.
_FORGOT_ACCEPTED = AcceptedResponse(
    status="accepted",
    detail=(
        "If an account goes by that name and has an email address, a link to choose a new "
        "password is on its way to it."
    ),
)


def _recovery(runtime: Runtime) -> PasswordRecovery:
    if runtime.recovery is None:
        raise NotFound()
    return runtime.recovery


def _verification(runtime: Runtime) -> EmailVerification:
    if runtime.verification is None:
        raise NotFound()
    return runtime.verification


@router.post(
    "/password/forgot",
    status_code=202,
    response_model=AcceptedResponse,
    responses={400: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
    summary="Ask for a password-reset link by mail; the same answer whether or not one is sent",
)
def forgot_password(
    body: ForgotPasswordRequest, runtime: RuntimeDep, client: ClientDep
) -> AcceptedResponse:
    _recovery(runtime).request_reset(body.login, client, now=runtime.clock.now())
    return _FORGOT_ACCEPTED


@router.post(
    "/password/reset",
    dependencies=[PASSWORD_SLOT],
    response_model=DoneResponse,
    responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Set a new password with a mailed link's token; every session of the user ends",
)
def reset_password(
    body: ResetPasswordRequest, runtime: RuntimeDep, db: DbDep, client: ClientDep
) -> DoneResponse:
    # A plain `def`: argon2 runs in the threadpool, never on the event loop.
    _recovery(runtime).reset(db, body.token, body.new_password, client, now=runtime.clock.now())
    db.commit()
    return DoneResponse(status="password_reset")


@router.post(
    "/email/verify/request",
    status_code=202,
    response_model=AcceptedResponse,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    summary="Send the signed-in user a link that confirms their email address",
)
def request_verification(
    runtime: RuntimeDep, client: ClientDep, authenticated: CurrentSession
) -> AcceptedResponse:
    _verification(runtime).request_link(authenticated.user, client, now=runtime.clock.now())
    return AcceptedResponse(
        status="accepted", detail="A link to confirm the address is on its way to it."
    )


@router.post(
    "/email/verify",
    response_model=DoneResponse,
    responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Confirm an email address with a mailed link's token",
)
def verify_email(
    body: VerifyEmailRequest, runtime: RuntimeDep, db: DbDep, client: ClientDep
) -> DoneResponse:
    _verification(runtime).verify(db, body.token, client, now=runtime.clock.now())
    db.commit()
    return DoneResponse(status="email_verified")
