"""GET and POST /ui/register: sign-up, mounted only when AUTHSVC_REGISTRATION=open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from authsvc.api.deps import ClientDep, DbDep, RuntimeDep
from authsvc.api.issuing import hand_out_tokens
from authsvc.errors import BadRequest, Conflict, InvalidCredentials, TooManyAttempts
from authsvc.services.login import Credentials
from authsvc.storage.engine import kept_when_refused
from authsvc.ui.admission import PageRegistrationSlot, as_busy, busy_message
from authsvc.ui.forms import ACCOUNT_PAGE, next_target, read_form, see_other
from authsvc.ui.login import NextQuery
from authsvc.ui.rendering import PagesDep

router = APIRouter(prefix="/ui", include_in_schema=False)

FormDep = Annotated[dict[str, str], Depends(read_form)]


@router.get("/register")
def register_page(
    request: Request, pages: PagesDep, runtime: RuntimeDep, next_url: NextQuery = None
) -> Response:
    return pages.render(
        request,
        "register.html",
        next=next_target(runtime, next_url),
        username="",
        min_password_length=runtime.settings.password_min_length,
    )


@router.post("/register")
def register(
    busy: PageRegistrationSlot,
    request: Request,
    pages: PagesDep,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    form: FormDep,
) -> Response:
    target = next_target(runtime, form.get("next"))
    username = form.get("username", "")[:150]
    password = form.get("password", "")[:1025]

    def again(
        status: int, errors: dict[str, str], headers: dict[str, str] | None = None
    ) -> Response:
        return pages.render(
            request,
            "register.html",
            status=status,
            headers=headers,
            next=target,
            username=username,
            errors=errors,
            min_password_length=runtime.settings.password_min_length,
        )

    errors: dict[str, str] = {}
    status = 400
    if not username.strip():
        errors["username"] = "Choose a username."
    if not password:
        errors["password"] = "Choose a password."
    if not errors and busy is not None:
        errors["password"] = busy_message(busy, "Signing up")
        return as_busy(again(busy.status, errors), busy)
    if not errors:
        try:
            runtime.accounts.register(db, username, password, client, now=runtime.clock.now())
        except TooManyAttempts as exc:
            # The refusal's audit record stays, as the JSON route keeps it.
            if kept_when_refused(db):
                db.commit()
            wait = exc.headers.get("Retry-After", "60")
            errors["username"] = f"Too many sign-ups from your network. Try again in {wait} s."
            return again(exc.status, errors, exc.headers)
        except Conflict:
            status = 409
            errors["username"] = "This username is taken; choose another."
        except BadRequest as exc:
            # The password policy (weak_password) or the username rules (invalid_request).
            field = "password" if exc.code == "weak_password" else "username"
            errors[field] = exc.detail
    if errors:
        return again(status, errors)
    try:
        # Signed in at once, as people expect after signing up.
        result = runtime.login.login(
            db, Credentials(username, password), client, now=runtime.clock.now()
        )
    except (InvalidCredentials, TooManyAttempts):
        db.commit()
        return see_other("/ui/login", next=target, notice="registered")
    db.commit()
    response = see_other(target or ACCOUNT_PAGE)
    hand_out_tokens(runtime, request, response, result)
    return response
