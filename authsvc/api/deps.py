"""Dependencies the routers share, as Annotated aliases.

Those that never block are `async def`: FastAPI runs a plain `def` dependency in the
threadpool, and a thread hop per dependency showed up in the /session benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from authsvc.errors import AuthError, Forbidden, InvalidToken, NotAuthenticated
from authsvc.keys.refresh import ReloadPending
from authsvc.observability.audit import ClientInfo
from authsvc.runtime import Runtime
from authsvc.services.authentication import Authenticated
from authsvc.storage.engine import kept_when_refused
from authsvc.tokens.access import VERIFIED_SESSION_STATE, AccessClaims
from authsvc.web.forwarded import client_address


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_db(runtime: RuntimeDep) -> Iterator[Session]:
    """A session per request: routes commit what succeeded, and a refusal keeps what its use case
    marked to keep (an audit record, an ended session); anything else is rolled back."""
    # A key rotation that has fallen due is made here, before the request's transaction begins:
    # made when the request signs a token, after its first write, the rotation's own writes
    # would wait on SQLite for the lock this very request holds.
    runtime.keys.refresh_if_due()
    with runtime.session_factory() as db:
        try:
            yield db
        except AuthError:
            if kept_when_refused(db):
                db.commit()
            raise
        finally:
            db.rollback()


DbDep = Annotated[Session, Depends(get_db)]


async def get_client(request: Request, runtime: RuntimeDep) -> ClientInfo:
    return ClientInfo(
        ip=client_address(request, runtime.cookies.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


ClientDep = Annotated[ClientInfo, Depends(get_client)]


# Declarations for the OpenAPI document only (the default cookie name); the token itself is
# read below, where the configured name and its __Host- prefix are known.
_cookie_auth = APIKeyCookie(name="authsvc_at", scheme_name="cookieAuth", auto_error=False)
_bearer_auth = HTTPBearer(scheme_name="bearerAuth", bearerFormat="JWT", auto_error=False)


async def presented_token(
    request: Request,
    runtime: RuntimeDep,
    _cookie: Annotated[str | None, Security(_cookie_auth)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_auth)],
) -> str | None:
    """The bearer token if the Authorization header carries one, else the access cookie."""
    return _token_in(request, runtime)


def _token_in(request: Request, runtime: Runtime) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return runtime.cookies.read_access(request)


# What the quick checks' routes declare in the OpenAPI document, in place of the two security
# dependencies above: FastAPI resolves a dependency on every request, documentation or not.
CHECKED_SECURITY: dict[str, Any] = {"security": [{"cookieAuth": []}, {"bearerAuth": []}]}


PresentedToken = Annotated[str | None, Depends(presented_token)]


def _authenticate(runtime: Runtime, db: Session, token: str) -> Authenticated:
    """The token check, counted by result in the metrics."""
    try:
        authenticated = runtime.authenticator.authenticate(db, token, now=runtime.clock.now())
    except InvalidToken as exc:
        runtime.metrics.validated(exc.code)
        raise
    runtime.metrics.validated("valid")
    return authenticated


def current_session(runtime: RuntimeDep, db: DbDep, token: PresentedToken) -> Authenticated:
    if token is None:
        runtime.metrics.validated("missing")
        raise NotAuthenticated()
    return _authenticate(runtime, db, token)


CurrentSession = Annotated[Authenticated, Depends(current_session)]


async def checked_token(request: Request) -> Authenticated:
    """The check of `current_session` on the event loop: from memory when it can (a token seen
    before and a remembered token version), else by one read of the user's row
    (`revocation/user_rows.py`): no session, no pool, no thread hop. Only the claims and the
    identity are at hand; routes that need the ORM row take `CurrentSession`. Their routes
    declare `openapi_extra=CHECKED_SECURITY`."""
    return await _quick_check_of(request, identity=False)


async def checked_identity(request: Request) -> Authenticated:
    """`checked_token`, with the user's identity (id, username, roles) at hand as well."""
    return await _quick_check_of(request, identity=True)


async def _quick_check_of(request: Request, *, identity: bool) -> Authenticated:
    runtime: Runtime = request.app.state.runtime
    token = _token_in(request, runtime)
    authenticated = await _quick_check(runtime, token, identity=identity)
    request.scope["state"][VERIFIED_SESSION_STATE] = (token, authenticated.claims.sid)
    return authenticated


CheckedToken = Annotated[Authenticated, Depends(checked_token)]
CheckedIdentity = Annotated[Authenticated, Depends(checked_identity)]


async def _quick_check(runtime: Runtime, token: str | None, *, identity: bool) -> Authenticated:
    if token is None:
        runtime.metrics.validated("missing")
        raise NotAuthenticated()
    try:
        authenticated = await _check(runtime, token, identity)
    except InvalidToken as exc:
        runtime.metrics.validated(exc.code)
        raise
    runtime.metrics.validated("valid")
    return authenticated


async def _check(runtime: Runtime, token: str, identity: bool) -> Authenticated:
    """From memory, else by one read of the rows on the event loop, else in a session."""
    authenticator = runtime.authenticator
    claims = await _verified(runtime, token)
    if claims is None:
        # Still reloading the key ring: the check in the threadpool waits there.
        return await run_in_threadpool(_check_in_session, runtime, token, identity)
    authenticated = authenticator.answer_from_memory(claims)
    if authenticated is not None and not (identity and authenticated.remembered_identity is None):
        return authenticated
    if runtime.user_rows is not None:
        # One read of the rows on the event loop: no thread, no session.
        return await authenticator.answer_by_read(
            claims, runtime.user_rows, version_missed=authenticated is None
        )
    return await run_in_threadpool(_check_in_session, runtime, token, identity)


async def _verified(runtime: Runtime, token: str) -> AccessClaims | None:
    """The token's verified claims, awaiting (never waiting on the loop for) a key-ring reload;
    None while one is still under way."""
    for _ in range(3):
        try:
            return runtime.authenticator.issuer.verify(token, now=runtime.clock.now())
        except ReloadPending as pending:
            await pending.wait()
    return None


def _check_in_session(runtime: Runtime, token: str, identity: bool) -> Authenticated:
    with runtime.session_factory() as db:
        authenticated = runtime.authenticator.authenticate(db, token, now=runtime.clock.now())
        if identity:
            # Read (and remembered) while the session is open.
            _ = authenticated.identity
        return authenticated


def optional_session(runtime: RuntimeDep, db: DbDep, token: PresentedToken) -> Authenticated | None:
    if token is None:
        return None
    try:
        return _authenticate(runtime, db, token)
    except InvalidToken:
        return None


OptionalSession = Annotated[Authenticated | None, Depends(optional_session)]

ADMIN_ROLE = "admin"


def step_up_session(runtime: RuntimeDep, db: DbDep, authenticated: CurrentSession) -> Authenticated:
    """A sensitive change: a user with a second factor must have shown it recently (step-up)."""
    runtime.mfa.require_step_up(
        db, authenticated.user.id, authenticated.claims, runtime.clock.now()
    )
    return authenticated


StepUpSession = Annotated[Authenticated, Depends(step_up_session)]


def admin_session(runtime: RuntimeDep, db: DbDep, authenticated: CurrentSession) -> Authenticated:
    """The token must carry the admin role, the account must still hold it, and an admin with a
    second factor must have shown it recently."""
    if ADMIN_ROLE not in authenticated.claims.roles or ADMIN_ROLE not in authenticated.user.roles:
        raise Forbidden("This needs the admin role.")
    return step_up_session(runtime, db, authenticated)


AdminSession = Annotated[Authenticated, Depends(admin_session)]
