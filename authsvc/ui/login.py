"""GET and POST /ui/login: the sign-in form, which works without JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out_tokens
from authsvc.api.schemas import LoginRequest
from authsvc.api.step_cookie import set_step
from authsvc.errors import (
    EmailNotVerified,
    InvalidCredentials,
    SecondStepDue,
    SessionActive,
    TooManyAttempts,
)
from authsvc.services.login import Credentials
from authsvc.storage.engine import kept_when_refused
from authsvc.ui.admission import PageLoginSlot
from authsvc.ui.forms import ACCOUNT_PAGE, next_target, read_form, see_other
from authsvc.ui.guard import SignedIn
from authsvc.ui.notices import NOTICES
from authsvc.ui.rendering import PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

# Where a sign-in whose password was right goes on to its second factor (ui/second_step.py).
SECOND_STEP_PAGE = "/ui/login/mfa"

NextQuery = Annotated[str | None, Query(alias="next", max_length=2048)]
NoticeQuery = Annotated[str | None, Query(max_length=64)]
FormDep = Annotated[dict[str, str], Depends(read_form)]


@router.get("/login")
def login_page(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    current: SignedIn,
    next_url: NextQuery = None,
    notice: NoticeQuery = None,
) -> Response:
    target = next_target(runtime, next_url)
    if current is not None:
        # Already signed in: straight on, as after a sign-in.
        return see_other(target or ACCOUNT_PAGE)
    return pages.render(
        request,
        "login.html",
        next=target,
        username="",
        remember=False,
        notice=NOTICES.get(notice or ""),
    )


@router.post("/login")
def sign_in(
    busy: PageLoginSlot,
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    form: FormDep,
) -> Response:
    # A plain `def`: the password check runs in the threadpool, never on the event loop.
    target = next_target(runtime, form.get("next"))
    username = form.get("username", "")[:150]
    remember = form.get("remember") == "on"

    def again(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
        return pages.render(
            request,
            "login.html",
            status=status,
            headers=headers,
            next=target,
            username=username,
            remember=remember,
            error=error,
        )

    if busy is not None:
        wait = busy.headers.get("Retry-After", "1")
        return again(503, f"Signing in is busy right now. Try again in {wait} s.", busy.headers)
    try:
        body = LoginRequest(username=username, password=form.get("password", ""))
    except ValidationError:
        return again(400, "Enter your username and password.")
    try:
        result = runtime.login.login(
            db,
            Credentials(body.username, body.password, remember),
            client,
            now=runtime.clock.now(),
            replaces_session=current.claims.sid if current is not None else None,
        )
    except TooManyAttempts as exc:
        _keep_audit(db)
        wait = exc.headers.get("Retry-After", "60")
        return again(429, f"Too many failed attempts. Try again in {wait} seconds.", exc.headers)
    except (InvalidCredentials, SessionActive, EmailNotVerified) as exc:
        _keep_audit(db)
        return again(exc.status, exc.detail)
    except SecondStepDue as due:
        db.commit()
        # The password was right: on to the second step, with only the step cookie.
        step = see_other(SECOND_STEP_PAGE, next=target)
        set_step(runtime, request, step, due.token, due.expires_in)
        return step
    db.commit()
    response = see_other(target or ACCOUNT_PAGE)
    hand_out_tokens(runtime, request, response, result)
    return response


def _keep_audit(db: Session) -> None:
    """A refused sign-in keeps its audit record, as the JSON login does."""
    if kept_when_refused(db):
        db.commit()
