"""Signing in with an external provider, and the account's linked identities."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from authsvc.api.deps import (
    ClientDep,
    CurrentSession,
    DbDep,
    OptionalSession,
    RuntimeDep,
    StepUpSession,
)
from authsvc.api.issuing import hand_out_tokens
from authsvc.api.mfa import reissue
from authsvc.api.schemas import ErrorResponse
from authsvc.api.step_cookie import set_step
from authsvc.errors import (
    AuthError,
    NotAuthenticated,
    OAuthStateInvalid,
    ProviderDenied,
    SecondStepDue,
)
from authsvc.federation import service as federation
from authsvc.federation import states
from authsvc.federation.providers import Exchange
from authsvc.observability.audit import ClientInfo
from authsvc.runtime import Runtime
from authsvc.services.authentication import Authenticated
from authsvc.storage.engine import kept_when_refused
from authsvc.web.redirects import safe_next

router = APIRouter(tags=["federation"])

STATE_COOKIE = "authsvc_oauth"
# Where the browser lands without a usable `next`.
_SIGNED_IN = "/ui/account"
_SECOND_STEP = "/ui/login/mfa"
# The hosted pages' notice for each refusal of a callback (ui/notices.py holds the words).
_NOTICES = {
    "provider_denied": "provider-denied",
    "oauth_state_invalid": "provider-state",
    "link_required": "provider-link-required",
    "provider_email_unverified": "provider-email-unverified",
    "registration_closed": "provider-registration-closed",
    "identity_linked_elsewhere": "provider-linked-elsewhere",
}

_DESCRIBED = {
    400: "`oauth_state_invalid` (no, used, expired or another browser's state), "
    "`provider_denied` (the provider answered with an error).",
    401: "`id_token_invalid`; `invalid_credentials` (the account changed meanwhile); or "
    "`not_authenticated` (linking needs a session).",
    403: "`registration_closed`, or `provider_email_unverified` against an existing account.",
    404: "No provider of this name.",
    409: "`link_required` (an account has this email: sign in and link), "
    "`identity_linked_elsewhere`, `session_active`.",
    502: "`provider_unavailable`: the provider could not be reached or answered nonsense.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorResponse, "description": _DESCRIBED.get(status, "Refused.")}
        for status in statuses
    }


class LinkedIdentityOut(BaseModel):
    id: str
    provider: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


class LinkedIdentitiesResponse(BaseModel):
    identities: list[LinkedIdentityOut]
    # Whether the account has a password of its own (unlinking the last identity needs one).
    has_password: bool


class ProviderOut(BaseModel):
    name: str
    label: str
    kind: str


def _cookie_name(runtime: Runtime, request: Request) -> str:
    if runtime.cookies.is_secure(request) and runtime.cookies.domain is None:
        return f"__Host-{STATE_COOKIE}"
    return STATE_COOKIE


def _redirect_uri(runtime: Runtime, provider: str) -> str:
    return f"{runtime.settings.link_base.rstrip('/')}/oauth/{provider}/callback"


@router.get(
    "/oauth/providers",
    response_model=list[ProviderOut],
    summary="The external identity providers a user may sign in with",
)
def providers(runtime: RuntimeDep) -> list[ProviderOut]:
    return [
        ProviderOut(name=p.name, label=p.config.label, kind=p.config.kind.value)
        for p in runtime.federation.providers.values()
    ]


@router.get(
    "/oauth/{provider}/authorize",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "On to the provider's sign-in page."},
        **_errors(401, 404, 502, 503),
    },
    summary="Start signing in (or, with link=true and a session, linking) at a provider",
)
def authorize(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    signed_in: OptionalSession,
    provider: Annotated[str, Path(max_length=32)],
    next_url: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
    link: Annotated[bool, Query(description="Link to the signed-in account.")] = False,
) -> RedirectResponse:
    client = runtime.federation.provider(provider)
    link_user = None
    if link:
        if signed_in is None:
            raise NotAuthenticated("Sign in first to link another way of signing in.")
        link_user = signed_in.user
    name = _cookie_name(runtime, request)
    browser = request.cookies.get(name) or ""
    if not 32 <= len(browser) <= 64:
        browser = states.new_browser_value()
    target = runtime.federation.start(
        db,
        client,
        browser=browser,
        redirect_uri=_redirect_uri(runtime, provider),
        next_url=safe_next(next_url, runtime.settings.effective_allowed_origins()),
        link_user=link_user,
        now=runtime.clock.now(),
    )
    db.commit()
    answer = RedirectResponse(target, status_code=303)
    # Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
    answer.set_cookie(
        name,
        browser,
        max_age=runtime.settings.oauth_state_seconds,
        path="/",
        secure=runtime.cookies.is_secure(request),
        httponly=True,
        samesite="lax",
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.get(
    "/oauth/{provider}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Signed in (or linked): on to `next`, or to the second step."},
        **_errors(400, 401, 403, 404, 409, 502, 503),
    },
    summary="Where the provider sends the browser back; signs in with our own cookies",
)
def callback(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    signed_in: OptionalSession,
    provider: Annotated[str, Path(max_length=32)],
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    try:
        return _callback(request, runtime, db, client, signed_in, provider, code, state, error)
    except AuthError as refused:
        # A person's browser gets a page that says what happened (the hosted sign-in page with
        # a fixed notice, nothing of the provider's words); API clients get the JSON error.
        if not runtime.settings.ui or "text/html" not in request.headers.get("accept", ""):
            raise
        if kept_when_refused(db):
            db.commit()  # the refusal's audit record
        else:
            db.rollback()
        page = "/ui/account" if signed_in is not None else "/ui/login"
        notice = _NOTICES.get(refused.code, "provider-failed")
        return RedirectResponse(f"{page}?notice={notice}", status_code=303)


def _callback(
    request: Request,
    runtime: Runtime,
    db: Session,
    client: ClientInfo,
    signed_in: Authenticated | None,
    provider: str,
    code: str | None,
    state: str | None,
    error: str | None,
) -> Response:
    service = runtime.federation
    provider_client = service.provider(provider)
    now = runtime.clock.now()
    browser = request.cookies.get(_cookie_name(runtime, request))
    if error is not None:
        # Nothing is signed in on an error, so it is shown even when the provider dropped the
        # state (some do); a state that came along is spent all the same.
        with suppress(OAuthStateInvalid):
            states.redeem(db, provider=provider, state=state, browser=browser, now=now)
        db.commit()
        raise ProviderDenied(f"The identity provider did not sign you in ({error[:64]}).")
    row = states.redeem(db, provider=provider, state=state, browser=browser, now=now)
    # Spent for good before the round trip: whatever happens next, it is never used again.
    db.commit()
    if not code:
        raise OAuthStateInvalid("The provider sent no authorization code.")
    found = provider_client.identify(
        Exchange(code, _redirect_uri(runtime, provider), row.code_verifier, row.nonce),
        now=now,
    )
    now = runtime.clock.now()
    target = row.next_url or (_SIGNED_IN if runtime.settings.ui else "/session")
    answer = RedirectResponse(target, status_code=303)
    if row.link_user_id is not None:
        # Linking belongs to the session that asked for it, in the browser that asked.
        if signed_in is None or signed_in.claims.sub != row.link_user_id:
            raise OAuthStateInvalid()
        service.link(db, found, row, client, now=now)
        db.commit()
        return answer
    try:
        result = service.sign_in(
            db,
            found,
            client,
            now=now,
            replaces_session=signed_in.claims.sid if signed_in is not None else None,
        )
    except SecondStepDue as due:
        db.commit()
        step = RedirectResponse(_SECOND_STEP, status_code=303)
        set_step(runtime, request, step, due.token, due.expires_in)
        return step
    db.commit()
    hand_out_tokens(runtime, request, answer, result)
    return answer


@router.get(
    "/account/identities",
    response_model=LinkedIdentitiesResponse,
    responses={401: {"model": ErrorResponse}},
    summary="The external identities linked to the account",
)
def list_identities(db: DbDep, authenticated: CurrentSession) -> LinkedIdentitiesResponse:
    user = authenticated.user
    return LinkedIdentitiesResponse(
        identities=[
            LinkedIdentityOut(
                id=i.id,
                provider=i.provider,
                email=i.email,
                created_at=i.created_at,
                last_used_at=i.last_used_at,
            )
            for i in federation.list_identities(db, user.id)
        ],
        has_password=federation.has_password(user),
    )


@router.delete(
    "/account/identities/{identity_id}",
    status_code=204,
    responses={
        401: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
    },
    summary="Unlink an identity; refused (409 last_sign_in_method) when it is the last way in",
)
def unlink_identity(
    request: Request,
    runtime: RuntimeDep,
    db: DbDep,
    client: ClientDep,
    authenticated: StepUpSession,
    identity_id: Annotated[str, Path(description="The linked identity's id.")],
) -> Response:
    now = runtime.clock.now()
    user = federation.unlink(
        db,
        authenticated.user.id,
        identity_id,
        client,
        now=now,
        keep_session=authenticated.claims.sid,
    )
    answer = Response(status_code=204)
    reissue(runtime, db, request, answer, user, authenticated.claims.sid)
    db.commit()
    return answer
