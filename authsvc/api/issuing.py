"""Handing freshly issued tokens to the browser: the cookies every issuing route sets."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from authsvc.api.schemas import LoginResponse, SessionOut, UserOut
from authsvc.runtime import Runtime
from authsvc.services.issuing import IssuedToken
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User

SignedInBody = TypeVar("SignedInBody", bound=LoginResponse)


class NewTokens(Protocol):
    """What a use case that renews a session's tokens hands back."""

    @property
    def session(self) -> SessionRow: ...
    @property
    def access(self) -> IssuedToken: ...
    @property
    def refresh_token(self) -> str | None: ...


class SignIn(NewTokens, Protocol):
    """What a login, a second step or a refresh hands back: the user and their new tokens."""

    @property
    def user(self) -> User: ...


def remember_max_age(runtime: Runtime, row: SessionRow) -> int | None:
    """A persistent cookie lives as long as the session can; without "remember me", no Max-Age."""
    if not row.remember:
        return None
    return max(0, int((row.absolute_expires_at - runtime.clock.now()).total_seconds()))


def hand_out(
    runtime: Runtime,
    request: Request,
    response: Response,
    *,
    access: IssuedToken,
    session: SessionRow,
    refresh_token: str | None = None,
) -> SessionOut:
    """Set the access cookie (and the refresh cookie when one was issued); the session's body."""
    runtime.cookies.set_access(
        response, request, access.token, runtime.settings.access_token_ttl_seconds
    )
    if refresh_token is not None:
        runtime.cookies.set_refresh(
            response, request, refresh_token, remember_max_age(runtime, session)
        )
    return SessionOut(id=session.id, expires_at=access.expires_at, state=dict(access.claims.sess))


def hand_out_tokens(
    runtime: Runtime, request: Request, response: Response, tokens: NewTokens
) -> SessionOut:
    """`hand_out` of everything a use case renewed."""
    return hand_out(
        runtime,
        request,
        response,
        access=tokens.access,
        session=tokens.session,
        refresh_token=tokens.refresh_token,
    )


def token_in_body(runtime: Runtime, access: IssuedToken) -> str | None:
    """The access token for the body too, only where the operator asked for it."""
    return access.token if runtime.settings.expose_token_in_body else None


def signed_in(
    runtime: Runtime,
    request: Request,
    response: Response,
    result: SignIn,
    body: type[SignedInBody],
    **extra: Any,
) -> SignedInBody:
    """Hand out the new tokens as cookies; the body every route that signs a user in answers."""
    session = hand_out_tokens(runtime, request, response, result)
    return body(
        user=UserOut.model_validate(result.user),
        session=session,
        access_token=token_in_body(runtime, result.access),
        **extra,
    )
