"""Passkeys over HTTP: register one as a second factor, rename a factor, a login step's options."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from authsvc.api.deps import ClientDep, CurrentSession, DbDep, OptionalSession, RuntimeDep
from authsvc.api.issuing import signed_in
from authsvc.api.mfa import reissue
from authsvc.api.mfa_schemas import (
    FactorConfirmedResponse,
    FactorOut,
    FactorRenameRequest,
    PasskeyAddRequest,
    PasskeyOptionsResponse,
    PasskeySignInRequest,
)
from authsvc.api.schemas import ErrorResponse, LoginResponse
from authsvc.api.step_cookie import read_step
from authsvc.mfa import account as mfa_account
from authsvc.mfa import passwordless

router = APIRouter(tags=["mfa"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {
        "model": ErrorResponse,
        "description": (
            "`passkey_rejected` (wrong origin or relying party, bad signature or format), "
            "`passkey_challenge_invalid` (unknown, used or expired challenge), "
            "`passkey_sign_count_regressed`."
        ),
    },
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "`step_up_required`, or a CSRF refusal."},
    404: {"model": ErrorResponse},
    409: {
        "model": ErrorResponse,
        "description": "The passkey is already registered; `session_active` (single session).",
    },
}


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: _ERRORS[status] for status in statuses}


@router.post(
    "/account/passkeys/options",
    response_model=PasskeyOptionsResponse,
    responses=_errors(401, 403),
    summary="Options to create a passkey; their challenge is single-use and short-lived",
)
def passkey_options(
    runtime: RuntimeDep, db: DbDep, authenticated: CurrentSession
) -> PasskeyOptionsResponse:
    options = mfa_account.passkey_options(runtime.mfa, db, authenticated, now=runtime.clock.now())
    db.commit()
    return PasskeyOptionsResponse(public_key=options)


@router.post(
    "/account/passkeys",
    response_model=FactorConfirmedResponse,
    response_model_exclude_none=True,
    responses=_errors(400, 401, 403, 409),
    summary="Register a passkey as a second factor; from now on logins may ask for it",
)
def add_passkey(
    request: Request,
    response: Response,
    body: PasskeyAddRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> FactorConfirmedResponse:
    added = mfa_account.add_passkey(
        runtime.mfa,
        db,
        authenticated,
        body.credential,
        client,
        name=body.name,
        now=runtime.clock.now(),
    )
    reissue(runtime, db, request, response, added.user, authenticated.claims.sid)
    db.commit()
    runtime.mfa.notices.send(added.user.id, "mfa_factor_added")
    return FactorConfirmedResponse(
        factor=FactorOut.model_validate(added.factor), recovery_codes=added.recovery_codes
    )


@router.patch(
    "/account/mfa/factors/{factor_id}",
    response_model=FactorOut,
    responses=_errors(401, 404),
    summary="Rename a second factor (a passkey or an authenticator app)",
)
def rename_factor(
    factor_id: Annotated[str, Path(description="The factor's id.")],
    body: FactorRenameRequest,
    db: DbDep,
    authenticated: CurrentSession,
) -> FactorOut:
    factor = mfa_account.rename(db, authenticated, factor_id, body.name)
    db.commit()
    return FactorOut.model_validate(factor)


@router.post(
    "/login/mfa/passkey/options",
    response_model=PasskeyOptionsResponse,
    responses=_errors(401),
    summary="In a login's second step: options to sign with one of the user's passkeys",
)
def login_passkey_options(
    request: Request, runtime: RuntimeDep, db: DbDep, client: ClientDep
) -> PasskeyOptionsResponse:
    options = runtime.mfa.passkey_options(
        db, read_step(runtime, request), client, now=runtime.clock.now()
    )
    db.commit()
    return PasskeyOptionsResponse(public_key=options)


@router.post(
    "/login/passkey/options",
    response_model=PasskeyOptionsResponse,
    responses=_errors(),
    summary="Options to sign in with a passkey alone (no username); single-use challenge",
)
def sign_in_options(runtime: RuntimeDep, db: DbDep, client: ClientDep) -> PasskeyOptionsResponse:
    options = passwordless.options(
        runtime.mfa, db, runtime.throttles.passkey_sign_in, client, now=runtime.clock.now()
    )
    db.commit()
    return PasskeyOptionsResponse(public_key=options)


@router.post(
    "/login/passkey",
    response_model=LoginResponse,
    responses=_errors(400, 401, 409),
    summary="Sign in with a passkey that verified its user; sets the session cookies (aal 2)",
)
def sign_in(
    request: Request,
    response: Response,
    body: PasskeySignInRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    previous: OptionalSession,
) -> LoginResponse:
    result = passwordless.sign_in(
        runtime.mfa,
        db,
        body.credential,
        client,
        remember=body.remember,
        now=runtime.clock.now(),
        replaces_session=previous.claims.sid if previous is not None else None,
    )
    db.commit()
    return signed_in(runtime, request, response, result, LoginResponse)
