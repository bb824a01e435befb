"""GET and POST /ui/forgot and /ui/reset: a reset link by mail, then a new password with it.

Mounted only with AUTHSVC_SMTP_URL, like the JSON endpoints they call the same services as.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.schemas import ForgotPasswordRequest
from authsvc.errors import InvalidLinkToken, NotFound, TooManyAttempts, WeakPassword
from authsvc.runtime import Runtime
from authsvc.services import account_tokens
from authsvc.services.account_tokens import Purpose
from authsvc.services.recovery import PasswordRecovery
from authsvc.ui.admission import PagePasswordSlot, as_busy, busy_message
from authsvc.ui.forms import read_form, see_other, to_login
from authsvc.ui.login import NoticeQuery
from authsvc.ui.notices import NOTICES
from authsvc.ui.rendering import Pages, PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]
# A mailed token is 43 characters; anything much longer is not one, and is not looked up.
TokenQuery = Annotated[str, Query()]
# Longer than any token we mint: a link cut or padded in transit, shown as a dead link (a
# length limit on the query parameter would answer the browser with a JSON error).
_MAX_LINK_TOKEN_CHARS = 128


def link_token(presented: str) -> str:
    """The token of a link as presented, or "" (no such link) when it cannot be one of ours."""
    return presented if len(presented) <= _MAX_LINK_TOKEN_CHARS else ""


# The page a mailed link opens carries its token in the address: no Referer may take it along,
# not even to this service (its access log, a proxy's). strict-origin sends the origin alone
# and, unlike no-referrer, keeps the Origin header that the CSRF check needs on the form post.
TOKEN_PAGE_REFERRER_POLICY = "strict-origin"
_MAX_PASSWORD = 1024
_MAX_LOGIN = 320


def _recovery(runtime: Runtime) -> PasswordRecovery:
    if runtime.recovery is None:
        raise NotFound()
    return runtime.recovery


@router.get("/forgot")
def forgot_page(
    request: Request, pages: PagesDep, runtime: RuntimeDep, notice: NoticeQuery = None
) -> Response:
    _recovery(runtime)
    return pages.render(request, "forgot.html", login="", notice=NOTICES.get(notice or ""))


@router.post("/forgot")
def ask_for_link(
    request: Request, pages: PagesDep, runtime: RuntimeDep, client: ClientDep, form: FormDep
) -> Response:
    recovery = _recovery(runtime)
    login = form.get("login", "")[:_MAX_LOGIN]
    try:
        body = ForgotPasswordRequest(login=login.strip())
    except ValidationError:
        return pages.render(
            request,
            "forgot.html",
            status=400,
            login=login,
            errors={"login": "Enter your username or email address."},
        )
    try:
        recovery.request_reset(body.login, client, now=runtime.clock.now())
    except TooManyAttempts as exc:
        wait = exc.headers.get("Retry-After", "60")
        return pages.render(
            request,
            "forgot.html",
            status=429,
            headers=exc.headers,
            login=login,
            error=f"Too many requests. Try again in {wait} seconds.",
        )
    # The same answer whatever became of the request: it tells nobody whether the account exists.
    return see_other("/ui/forgot", notice="reset-link-sent")


@router.get("/reset")
def reset_page(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    token: TokenQuery = "",
) -> Response:
    _recovery(runtime)
    token = link_token(token)
    user = account_tokens.peek(db, token, Purpose.password_reset, now=runtime.clock.now())
    if user is None:
        return _dead_link(request, pages)
    return _reset_form(request, pages, runtime, token, user.username)


@router.post("/reset")
def reset_password(
    busy: PagePasswordSlot,
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    form: FormDep,
) -> Response:
    recovery = _recovery(runtime)
    token = form.get("token", "")[:128]
    username = form.get("username", "")[:150]
    new_password = form.get("new_password", "")[: _MAX_PASSWORD + 1]
    if not new_password:
        errors = {"new_password": "Enter a new password."}
        return _reset_form(request, pages, runtime, token, username, errors=errors)
    if busy is not None:
        errors = {"new_password": busy_message(busy, "Setting passwords")}
        page = _reset_form(request, pages, runtime, token, username, errors=errors)
        return as_busy(page, busy)
    try:
        recovery.reset(db, token, new_password, client, now=runtime.clock.now())
    except InvalidLinkToken:
        return _dead_link(request, pages)
    except WeakPassword as exc:
        # The token stays unused: nothing of this attempt is committed.
        db.rollback()
        errors = {"new_password": exc.detail}
        return _reset_form(request, pages, runtime, token, username, errors=errors)
    db.commit()
    return to_login(notice="password-reset")


def _reset_form(
    request: Request,
    pages: Pages,
    runtime: Runtime,
    token: str,
    username: str,
    *,
    errors: dict[str, str] | None = None,
) -> Response:
    return pages.render(
        request,
        "reset.html",
        status=400 if errors else 200,
        referrer_policy=TOKEN_PAGE_REFERRER_POLICY,
        token=token,
        username=username,
        errors=errors or {},
        min_password_length=runtime.settings.password_min_length,
    )


def _dead_link(request: Request, pages: Pages) -> Response:
    return pages.render(
        request, "reset.html", status=400, referrer_policy=TOKEN_PAGE_REFERRER_POLICY, token=None
    )
