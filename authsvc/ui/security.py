"""The Security section's forms on /ui/account: add an authenticator app (QR code), rename a
passkey, remove a factor, new recovery codes; each a plain form post, no JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.mfa import reissue
from authsvc.errors import (
    Conflict,
    InvalidMfaCode,
    LastSignInMethod,
    NotFound,
    StepUpRequired,
    TooManyAttempts,
)
from authsvc.mfa import account as mfa_account
from authsvc.mfa import factors
from authsvc.storage.engine import kept_when_refused
from authsvc.ui.account import signed_out
from authsvc.ui.forms import ACCOUNT_PAGE, read_form, see_other
from authsvc.ui.guard import SignedIn
from authsvc.ui.rendering import PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]


@router.post("/account/mfa/totp")
def add_totp(
    request: Request, pages: PagesDep, runtime: RuntimeDep, db: DbDep, current: SignedIn
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    try:
        enrolment = mfa_account.begin_totp(
            runtime.mfa, db, current, name="Authenticator app", now=runtime.clock.now()
        )
    except StepUpRequired:
        return see_other(ACCOUNT_PAGE, notice="step-up")
    db.commit()
    return pages.render(request, "security-totp.html", enrolment=enrolment, error=None)


@router.post("/account/mfa/totp/confirm")
def confirm_totp(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    form: FormDep,
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    factor_id = form.get("factor_id", "")[:36]
    try:
        confirmed = mfa_account.confirm_totp(
            runtime.mfa,
            db,
            current,
            factor_id,
            form.get("code", "")[:16],
            client,
            now=runtime.clock.now(),
        )
    except StepUpRequired:
        return see_other(ACCOUNT_PAGE, notice="step-up")
    except NotFound:
        return see_other(ACCOUNT_PAGE)
    except (InvalidMfaCode, TooManyAttempts) as exc:
        if kept_when_refused(db):
            db.commit()
        # The secret is not shown again: the user starts over from the account page.
        return pages.render(
            request, "security-totp.html", status=exc.status, enrolment=None, error=exc.detail
        )
    response: Response
    if confirmed.recovery_codes is not None:
        response = pages.render(
            request, "recovery-codes.html", codes=confirmed.recovery_codes, next=ACCOUNT_PAGE
        )
    else:
        response = see_other(ACCOUNT_PAGE, notice="mfa-added")
    reissue(runtime, db, request, response, confirmed.user, current.claims.sid)
    db.commit()
    runtime.mfa.notices.send(confirmed.user.id, "mfa_factor_added")
    return response


@router.post("/account/mfa/factors/{factor_id}/remove")
def remove_factor(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    factor_id: Annotated[str, Path(max_length=36)],
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    try:
        user = mfa_account.remove(
            runtime.mfa, db, current, factor_id, client, now=runtime.clock.now()
        )
    except StepUpRequired:
        return see_other(ACCOUNT_PAGE, notice="step-up")
    except NotFound:
        return see_other(ACCOUNT_PAGE)
    except LastSignInMethod:
        return see_other(ACCOUNT_PAGE, notice="provider-last-way")
    response = see_other(ACCOUNT_PAGE, notice="mfa-removed")
    reissue(runtime, db, request, response, user, current.claims.sid)
    db.commit()
    runtime.mfa.notices.send(user.id, "mfa_factor_removed")
    return response


@router.post("/account/mfa/factors/{factor_id}/rename")
def rename_factor(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    current: SignedIn,
    form: FormDep,
    factor_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """PATCH /account/mfa/factors/{id} as a form: a label only, so no step-up, as there."""
    if current is None:
        return signed_out(runtime, request)
    try:
        name = factors.clean_name(form.get("name", ""))
    except ValueError:
        return see_other(ACCOUNT_PAGE, notice="factor-name-invalid")
    try:
        mfa_account.rename(db, current, factor_id, name)
    except NotFound:
        return see_other(ACCOUNT_PAGE)
    db.commit()
    return see_other(ACCOUNT_PAGE, notice="passkey-renamed")


@router.post("/account/mfa/recovery-codes")
def new_recovery_codes(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    try:
        user, codes = mfa_account.regenerate_recovery(
            runtime.mfa, db, current, client, now=runtime.clock.now()
        )
    except StepUpRequired:
        return see_other(ACCOUNT_PAGE, notice="step-up")
    except Conflict:
        return see_other(ACCOUNT_PAGE)
    response = pages.render(request, "recovery-codes.html", codes=codes, next=ACCOUNT_PAGE)
    reissue(runtime, db, request, response, user, current.claims.sid)
    db.commit()
    runtime.mfa.notices.send(user.id, "mfa_recovery_codes_regenerated")
    return response
