"""GET /ui/account and its forms: who is signed in, their devices, a new password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out_tokens
from authsvc.errors import (
    InvalidCredentials,
    NotFound,
    StepUpRequired,
    TokenRevoked,
    WeakPassword,
)
from authsvc.federation import service as federation
from authsvc.mfa import account as mfa_account
from authsvc.runtime import Runtime
from authsvc.services import sessions
from authsvc.services.authentication import Authenticated
from authsvc.storage.engine import kept_when_refused
from authsvc.ui.admission import PagePasswordSlot, as_busy, busy_message
from authsvc.ui.forms import ACCOUNT_PAGE, read_form, see_other, to_login
from authsvc.ui.guard import SignedIn
from authsvc.ui.login import NoticeQuery
from authsvc.ui.notices import NOTICES
from authsvc.ui.rendering import Pages, PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]
_MAX_PASSWORD = 1024


@router.get("/account")
def account_page(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    current: SignedIn,
    notice: NoticeQuery = None,
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    return render_account(request, pages, runtime, db, current, notice=NOTICES.get(notice or ""))


@router.post("/account/password")
def change_password(
    busy: PagePasswordSlot,
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
    current_password = form.get("current_password", "")[:_MAX_PASSWORD]
    new_password = form.get("new_password", "")[: _MAX_PASSWORD + 1]
    errors: dict[str, str] = {}
    if not current_password:
        errors["current_password"] = "Enter your current password."
    if not new_password:
        errors["new_password"] = "Enter a new password."
    if not errors and busy is not None:
        errors["new_password"] = busy_message(busy, "Changing passwords")
        page = render_account(request, pages, runtime, db, current, errors=errors, status=400)
        return as_busy(page, busy)
    if not errors:
        try:
            runtime.mfa.require_step_up(db, current.user.id, current.claims, runtime.clock.now())
            changed = runtime.accounts.change_password(
                db, current, current_password, new_password, client, now=runtime.clock.now()
            )
        except TokenRevoked:
            # Signed out everywhere, or this device, while the password was being checked.
            return signed_out(runtime, request)
        except InvalidCredentials:
            if kept_when_refused(db):
                db.commit()
            errors["current_password"] = "This is not your current password."
        except (WeakPassword, StepUpRequired) as exc:
            errors["new_password"] = exc.detail
    if errors:
        return render_account(request, pages, runtime, db, current, errors=errors, status=400)
    db.commit()
    response = see_other(ACCOUNT_PAGE, notice="password-changed")
    hand_out_tokens(runtime, request, response, changed)
    return response


@router.post("/sessions/{sid}/end")
def end_device(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    sid: Annotated[str, Path(max_length=64)],
) -> Response:
    if current is None:
        return signed_out(runtime, request)
    try:
        sessions.end_own_session(db, current.user.id, sid, client=client, now=runtime.clock.now())
    except NotFound:
        return see_other(ACCOUNT_PAGE, notice="device-gone")
    db.commit()
    if sid == current.claims.sid:
        response = to_login(notice="signed-out")
        runtime.cookies.clear_all(response, request)
        return response
    return see_other(ACCOUNT_PAGE, notice="device-signed-out")


def signed_out(runtime: Runtime, request: Request) -> Response:
    """To the sign-in page and back here afterwards; a dead session's cookies go."""
    response = to_login(next_path=ACCOUNT_PAGE)
    if runtime.cookies.read_access(request) is not None:
        runtime.cookies.clear_all(response, request)
    return response


def render_account(
    request: Request,
    pages: Pages,
    runtime: Runtime,
    db: Session,
    current: Authenticated,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    notice: str | None = None,
    email_error: str | None = None,
) -> Response:
    now = runtime.clock.now()
    rows = sessions.list_alive(db, current.user.id, now=now)
    devices = [sessions.describe(row, current.claims.sid) for row in rows]
    return pages.render(
        request,
        "account.html",
        status=status,
        user=current.user,
        devices=devices,
        now=now,
        errors=errors or {},
        notice=notice,
        email_error=email_error,
        security=mfa_account.status(db, current.user.id),
        identities=federation.list_identities(db, current.user.id),
        provider_labels={p.name: p.label for p in runtime.settings.oauth_providers},
        min_password_length=runtime.settings.password_min_length,
    )
