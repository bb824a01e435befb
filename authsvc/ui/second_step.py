"""GET and POST /ui/login/mfa: the second step of a sign-in (a code or a recovery code), and
the enrolment of a first factor where the policy asks for one; no JavaScript needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out_tokens
from authsvc.api.step_cookie import clear_step, read_step
from authsvc.errors import InvalidMfaCode, MfaStepInvalid, SessionActive, TooManyAttempts
from authsvc.mfa.factors import TOTP, WEBAUTHN
from authsvc.mfa.service import ENROL, Proof
from authsvc.observability.audit import ClientInfo
from authsvc.runtime import Runtime
from authsvc.storage.engine import kept_when_refused
from authsvc.ui.forms import ACCOUNT_PAGE, next_target, read_form, see_other, to_login
from authsvc.ui.guard import SignedIn
from authsvc.ui.rendering import PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]
NextQuery = Annotated[str | None, Query(alias="next", max_length=2048)]


@router.get("/login/mfa")
def second_step_page(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    next_url: NextQuery = None,
) -> Response:
    try:
        challenge = runtime.mfa.step(
            db, read_step(runtime, request), client, now=runtime.clock.now()
        )
    except MfaStepInvalid:
        db.commit()
        return _start_again(runtime, request)
    return pages.render(
        request,
        "login-mfa.html",
        next=next_target(runtime, next_url),
        enrol=challenge.purpose == ENROL,
        enrolment=None,
        offers=_Offers.of(runtime.mfa.step_factors(db, challenge)),
    )


@router.post("/login/mfa/enrol")
def enrol(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    form: FormDep,
) -> Response:
    try:
        enrolment = runtime.mfa.begin_step_enrolment(
            db,
            read_step(runtime, request),
            client,
            name="Authenticator app",
            now=runtime.clock.now(),
        )
    except MfaStepInvalid:
        db.commit()
        return _start_again(runtime, request)
    db.commit()
    return pages.render(
        request,
        "login-mfa.html",
        next=next_target(runtime, form.get("next")),
        enrol=True,
        enrolment=enrolment,
    )


@router.post("/login/mfa")
def complete(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    form: FormDep,
) -> Response:
    target = next_target(runtime, form.get("next"))
    recovery_code = form.get("recovery_code", "")[:64].strip() or None
    code = form.get("code", "")[:16].strip() or None
    try:
        completed = runtime.mfa.complete(
            db,
            read_step(runtime, request),
            Proof(code=None if recovery_code else code, recovery_code=recovery_code),
            client,
            now=runtime.clock.now(),
            replaces_session=current.claims.sid if current is not None else None,
        )
    except MfaStepInvalid:
        _keep(db)
        return _start_again(runtime, request)
    except (InvalidMfaCode, TooManyAttempts, SessionActive) as exc:
        _keep(db)
        offers = _Offers.of(_step_factors(runtime, request, db, client))
        return pages.render(
            request,
            "login-mfa.html",
            status=exc.status,
            headers=exc.headers,
            next=target,
            enrol=False,
            enrolment=None,
            error=exc.detail,
            offers=offers,
        )
    db.commit()
    result = completed.login
    if completed.recovery_codes is not None:
        runtime.mfa.notices.send(result.user.id, "mfa_factor_added")
        response: Response = pages.render(
            request,
            "recovery-codes.html",
            codes=completed.recovery_codes,
            next=target or ACCOUNT_PAGE,
        )
    else:
        response = see_other(target or ACCOUNT_PAGE)
    hand_out_tokens(runtime, request, response, result)
    clear_step(runtime, request, response)
    return response


def _start_again(runtime: Runtime, request: Request) -> Response:
    """Back to the sign-in page, which says why: the step is used, expired or not this browser's."""
    response = to_login(notice="mfa-step-over")
    clear_step(runtime, request, response)
    return response


def _step_factors(runtime: Runtime, request: Request, db: Session, client: ClientInfo) -> list[str]:
    """The kinds of factor the step this browser holds may be answered with."""
    try:
        challenge = runtime.mfa.step(
            db, read_step(runtime, request), client, now=runtime.clock.now()
        )
    except MfaStepInvalid:
        _keep(db)
        return []
    return runtime.mfa.step_factors(db, challenge)


@dataclass(frozen=True)
class _Offers:
    """What the page offers: a passkey button and an app's code field only to an account that
    has them (with nothing known, the code field, as before the step was read); recovery
    codes always."""

    passkey: bool
    app_code: bool

    @classmethod
    def of(cls, kinds: list[str]) -> _Offers:
        return cls(passkey=WEBAUTHN in kinds, app_code=TOTP in kinds or not kinds)


def _keep(db: Session) -> None:
    if kept_when_refused(db):
        db.commit()
