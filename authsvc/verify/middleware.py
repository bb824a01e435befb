"""A plain ASGI middleware for Starlette and other ASGI apps: 401/403 JSON before the app runs."""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from authsvc.errors import AuthError, Forbidden, NotAuthenticated
from authsvc.verify.verifier import TokenVerifier, VerifiedSession
from authsvc.verify.web import verifier_response

SCOPE_KEY = "authsvc_session"


def session_of(scope: Scope) -> VerifiedSession:
    """The session the middleware verified (also `request.state.authsvc_session`)."""
    session: VerifiedSession = scope["state"][SCOPE_KEY]
    return session


class VerifierMiddleware:
    """Every HTTP request needs a valid token (and `roles`), except under `public_paths`."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        roles: Iterable[str] = (),
        public_paths: Iterable[str] = (),
    ):
        self.app = app
        self.verifier = verifier
        self.roles = frozenset(roles)
        self.public_paths = tuple(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        try:
            cookies = _cookies(headers.get("cookie", ""))
            token = self.verifier.presented_token(scope["method"], headers, cookies)
            if token is None:
                raise NotAuthenticated()
            # Signature checks and source reads may block; keep them off the event loop.
            session = await run_in_threadpool(self.verifier.verify, token)
            if not self.roles.issubset(session.roles):
                raise Forbidden("This needs the role(s): " + ", ".join(sorted(self.roles)))
        except AuthError as exc:
            await verifier_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[SCOPE_KEY] = session
        await self.app(scope, receive, send)

    def _is_public(self, path: str) -> bool:
        return any(
            path == prefix or path.startswith(prefix.rstrip("/") + "/")
            for prefix in self.public_paths
        )


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}
