"""Confirming an email address from the pages: the account page asks for a link, and
GET /ui/verify-email shows the button whose POST confirms the address.

Mounted only with AUTHSVC_SMTP_URL. The link's GET changes nothing: mail scanners follow links.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.errors import Conflict, InvalidLinkToken, NotFound, TooManyAttempts
from authsvc.runtime import Runtime
from authsvc.services import account_tokens
from authsvc.services.account_tokens import Purpose
from authsvc.services.verification import EmailVerification
from authsvc.ui.account import render_account, signed_out
from authsvc.ui.forms import ACCOUNT_PAGE, read_form, see_other, to_login
from authsvc.ui.guard import SignedIn
from authsvc.ui.recovery import TOKEN_PAGE_REFERRER_POLICY, TokenQuery, link_token
from authsvc.ui.rendering import Pages, PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]


def _verification(runtime: Runtime) -> EmailVerification:
    if runtime.verification is None:
        raise NotFound()
    return runtime.verification


@router.post("/account/verify-email")
def send_link(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
) -> Response:
    verification = _verification(runtime)
    if current is None:
        return signed_out(runtime, request)
    try:
        verification.request_link(current.user, client, now=runtime.clock.now())
    except Conflict:
        return see_other(ACCOUNT_PAGE, notice="email-verified")
    except TooManyAttempts as exc:
        wait = exc.headers.get("Retry-After", "60")
        return render_account(
            request,
            pages,
            runtime,
            db,
            current,
            status=429,
            email_error=f"Too many links asked for. Try again in {wait} seconds.",
        )
    return see_other(ACCOUNT_PAGE, notice="verification-sent")


@router.get("/verify-email")
def verify_page(
    request: Request, pages: PagesDep, runtime: RuntimeDep, db: DbDep, token: TokenQuery = ""
) -> Response:
    _verification(runtime)
    token = link_token(token)
    user = account_tokens.peek(db, token, Purpose.email_verification, now=runtime.clock.now())
    if user is None:
        return _dead_link(request, pages)
    return _page(request, pages, token=token, address=user.email)


@router.post("/verify-email")
def verify(
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    current: SignedIn,
    form: FormDep,
) -> Response:
    verification = _verification(runtime)
    try:
        verification.verify(db, form.get("token", "")[:128], client, now=runtime.clock.now())
    except InvalidLinkToken:
        return _dead_link(request, pages)
    db.commit()
    if current is not None:
        return see_other(ACCOUNT_PAGE, notice="email-verified")
    return to_login(notice="email-verified")


def _dead_link(request: Request, pages: Pages) -> Response:
    return _page(request, pages, status=400, token=None, address=None)


def _page(
    request: Request, pages: Pages, *, token: str | None, address: str | None, status: int = 200
) -> Response:
    return pages.render(
        request,
        "verify-email.html",
        status=status,
        referrer_policy=TOKEN_PAGE_REFERRER_POLICY,
        token=token,
        address=address,
    )
