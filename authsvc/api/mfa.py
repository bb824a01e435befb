"""Multi-factor sign-in over HTTP: the second login step, the user's factors, operators' reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session

from authsvc.api.deps import (
    AdminSession,
    ClientDep,
    CurrentSession,
    DbDep,
    OptionalSession,
    RuntimeDep,
)
from authsvc.api.issuing import signed_in
from authsvc.api.mfa_schemas import (
    FactorConfirmedResponse,
    FactorOut,
    MfaLoginResponse,
    MfaProofRequest,
    MfaResetResponse,
    MfaStatusResponse,
    RecoveryCodesResponse,
    TotpConfirmRequest,
    TotpEnrolmentResponse,
    TotpEnrolRequest,
)
from authsvc.api.schemas import ErrorResponse
from authsvc.api.step_cookie import clear_step, read_step
from authsvc.errors import NotFound
from authsvc.mfa import account as mfa_account
from authsvc.mfa.factors import TotpEnrolment
from authsvc.mfa.service import Proof
from authsvc.runtime import Runtime
from authsvc.services.sessions import live_session
from authsvc.storage.models import User

router = APIRouter(tags=["mfa"])

FactorId = Annotated[str, Path(description="The factor's id.")]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "A wrong or reused code, no usable step, or no valid access token.",
        403: "`step_up_required`: sign in again with the second factor; or a CSRF refusal.",
        409: "`session_active` (single-session policy), or no factor to stand in for.",
        429: "Too many wrong codes for this account or address.",
    }
    return {
        status: {
            "model": ErrorResponse,
            **({"description": described[status]} if status in described else {}),
        }
        for status in statuses
    }


@router.post(
    "/login/mfa",
    response_model=MfaLoginResponse,
    response_model_exclude_none=True,
    responses=_errors(400, 401, 409, 429, 503),
    summary="Complete a login with a TOTP code, a passkey or a recovery code; sets the cookies",
)
def complete_login(
    request: Request,
    response: Response,
    body: MfaProofRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    previous: OptionalSession,
) -> MfaLoginResponse:
    completed = runtime.mfa.complete(
        db,
        read_step(runtime, request),
        Proof(code=body.code, recovery_code=body.recovery_code, webauthn=body.webauthn),
        client,
        now=runtime.clock.now(),
        replaces_session=previous.claims.sid if previous is not None else None,
    )
    db.commit()
    result = completed.login
    if completed.recovery_codes is not None:
        runtime.mfa.notices.send(result.user.id, "mfa_factor_added")
    clear_step(runtime, request, response)
    return signed_in(
        runtime,
        request,
        response,
        result,
        MfaLoginResponse,
        recovery_codes=completed.recovery_codes,
    )


@router.post(
    "/login/mfa/enrol",
    response_model=TotpEnrolmentResponse,
    responses=_errors(400, 401, 503),
    summary="In a login that must enrol a second factor: a TOTP secret to add to an app",
)
def enrol_in_login(
    request: Request, body: TotpEnrolRequest, runtime: RuntimeDep, db: DbDep, client: ClientDep
) -> TotpEnrolmentResponse:
    enrolment = runtime.mfa.begin_step_enrolment(
        db, read_step(runtime, request), client, name=body.name, now=runtime.clock.now()
    )
    db.commit()
    return _enrolment_out(enrolment)


@router.get(
    "/account/mfa",
    response_model=MfaStatusResponse,
    responses=_errors(401),
    summary="The user's second factors and how many recovery codes are left",
)
def mfa_status(db: DbDep, authenticated: CurrentSession) -> MfaStatusResponse:
    status = mfa_account.status(db, authenticated.user.id)
    return MfaStatusResponse(
        factors=[FactorOut.model_validate(factor) for factor in status.factors],
        recovery_codes_left=status.recovery_codes_left,
    )


@router.post(
    "/account/mfa/totp",
    response_model=TotpEnrolmentResponse,
    responses=_errors(400, 401, 403),
    summary="Start adding a TOTP factor: its secret, otpauth URI and QR code",
)
def begin_totp(
    body: TotpEnrolRequest, runtime: RuntimeDep, db: DbDep, authenticated: CurrentSession
) -> TotpEnrolmentResponse:
    enrolment = mfa_account.begin_totp(
        runtime.mfa, db, authenticated, name=body.name, now=runtime.clock.now()
    )
    db.commit()
    return _enrolment_out(enrolment)


@router.post(
    "/account/mfa/totp/{factor_id}/confirm",
    response_model=FactorConfirmedResponse,
    response_model_exclude_none=True,
    responses=_errors(400, 401, 403, 404, 429),
    summary="Confirm a TOTP factor with its first code; from now on logins ask for it",
)
def confirm_totp(
    request: Request,
    response: Response,
    factor_id: FactorId,
    body: TotpConfirmRequest,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> FactorConfirmedResponse:
    now = runtime.clock.now()
    confirmed = mfa_account.confirm_totp(
        runtime.mfa, db, authenticated, factor_id, body.code, client, now=now
    )
    reissue(runtime, db, request, response, confirmed.user, authenticated.claims.sid)
    db.commit()
    runtime.mfa.notices.send(confirmed.user.id, "mfa_factor_added")
    return FactorConfirmedResponse(
        factor=FactorOut.model_validate(confirmed.factor), recovery_codes=confirmed.recovery_codes
    )


@router.delete(
    "/account/mfa/factors/{factor_id}",
    response_model=MfaStatusResponse,
    responses=_errors(401, 403, 404),
    summary="Remove a second factor (the last one takes the recovery codes with it)",
)
def remove_factor(
    request: Request,
    response: Response,
    factor_id: FactorId,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> MfaStatusResponse:
    user = mfa_account.remove(
        runtime.mfa, db, authenticated, factor_id, client, now=runtime.clock.now()
    )
    reissue(runtime, db, request, response, user, authenticated.claims.sid)
    status = mfa_account.status(db, user.id)
    db.commit()
    runtime.mfa.notices.send(user.id, "mfa_factor_removed")
    return MfaStatusResponse(
        factors=[FactorOut.model_validate(factor) for factor in status.factors],
        recovery_codes_left=status.recovery_codes_left,
    )


@router.post(
    "/account/mfa/recovery-codes",
    response_model=RecoveryCodesResponse,
    responses=_errors(401, 403, 409),
    summary="A new set of ten recovery codes; the old set stops working",
)
def regenerate_recovery_codes(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: CurrentSession,
) -> RecoveryCodesResponse:
    user, codes = mfa_account.regenerate_recovery(
        runtime.mfa, db, authenticated, client, now=runtime.clock.now()
    )
    reissue(runtime, db, request, response, user, authenticated.claims.sid)
    db.commit()
    runtime.mfa.notices.send(user.id, "mfa_recovery_codes_regenerated")
    return RecoveryCodesResponse(recovery_codes=codes)


@router.post(
    "/admin/users/{user}/mfa/reset",
    response_model=MfaResetResponse,
    responses=_errors(401, 403, 404),
    tags=["admin"],
    summary="Remove every second factor and recovery code of a user; ends all their sessions",
)
def reset_mfa(
    user: Annotated[str, Path(description="The user's id.")],
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: AdminSession,
) -> MfaResetResponse:
    reset = mfa_account.reset(
        db, user, client=client, now=runtime.clock.now(), actor=authenticated.user.username
    )
    if reset is None:
        raise NotFound("No such user.")
    db.commit()
    runtime.mfa.notices.send(reset.id, "mfa_reset")
    return MfaResetResponse(user_id=reset.id)


def reissue(
    runtime: Runtime, db: Session, request: Request, response: Response, user: User, sid: str
) -> None:
    """A factor change bumped the token version: this device gets a token of the new one."""
    now = runtime.clock.now()
    row = live_session(db, user.id, sid, now=now)
    access = runtime.issuer.issue_for(user, row, row.state, now=now)
    runtime.cookies.set_access(
        response, request, access.token, runtime.settings.access_token_ttl_seconds
    )


def _enrolment_out(enrolment: TotpEnrolment) -> TotpEnrolmentResponse:
    return TotpEnrolmentResponse(
        factor_id=enrolment.factor.id,
        secret=enrolment.secret,
        otpauth_uri=enrolment.uri,
        qr_svg=enrolment.qr_svg,
    )
