"""CSRF protection for cookie-authenticated unsafe requests: an Origin check plus a signed
double-submit token (OWASP CSRF cheat sheet). Bearer requests are exempt: a foreign page cannot
attach an Authorization header without a CORS preflight we refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.config import Settings
from authsvc.errors import CsrfFailed, error_response
from authsvc.tokens.access import unverified_session_id
from authsvc.web.cookies import CookiePolicy

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Login CSRF (logging the victim into the attacker's account) is refused too.
ALWAYS_CHECKED_PATHS = frozenset({"/login"})
# Where a page gets its first token: the call an SPA makes on load. Not on every safe
# response, because a Set-Cookie would make cacheable answers (the JWKS) uncacheable.
HANDOUT_PATHS = frozenset({"/session"})
_MAX_TOKEN_CHARS = 256


class CsrfTokens:
    """Mints and checks tokens signed with a key derived from the key-encryption secret, so a
    cookie planted by a sibling subdomain (which cannot sign) is refused, and bound to the session
    they were issued for, so a signed token it fetched for itself (anonymous, or for its own
    session) is refused too.

    A token is `nonce.binding.mac`: the binding is a keyed digest of the session id (`-` for no
    session), and the MAC covers both.
    """

    def __init__(self, secret_values: list[str]):
        # The first secret signs, all verify: rotating the secret list keeps tokens valid.
        self._keys = [
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=b"authsvc/csrf/v1", info=b"csrf-token"
            ).derive(secret.encode())
            for secret in secret_values
        ]

    def mint(self, session_id: str | None = None) -> str:
        """A token for this session (None: a browser with no session yet)."""
        key = self._keys[0]
        signed = f"{secrets.token_urlsafe(32)}.{_binding(key, session_id)}"
        return f"{signed}.{_mac(key, signed)}"

    def valid(self, token: str, session_id: str | None = None) -> bool:
        """Signed by us and, when the request names a session, issued for that session.

        A request that names none (a login, or a refresh once the access cookie has expired)
        accepts a token of any binding: there is no session for a forged request to act in.
        """
        if len(token) > _MAX_TOKEN_CHARS:
            return False
        signed, _, mac = token.rpartition(".")
        nonce, _, binding = signed.partition(".")
        if not nonce or not binding:
            return False
        # Every key is tried, so the time taken does not tell which one matched.
        matches = [
            hmac.compare_digest(mac.encode(), _mac(key, signed).encode())
            and (session_id is None or hmac.compare_digest(binding, _binding(key, session_id)))
            for key in self._keys
        ]
        return any(matches)


def _binding(key: bytes, session_id: str | None) -> str:
    if session_id is None:
        return "-"
    return _mac(key, f"session:{session_id}")[:22]


def _mac(key: bytes, nonce: str) -> str:
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_cookie_name(policy: CookiePolicy, request: Request, base_name: str) -> str:
    # The same __Host- rule as the access cookie: a subdomain cannot overwrite it.
    if policy.is_secure(request) and policy.domain is None:
        return f"__Host-{base_name}"
    return base_name


class CsrfProtection:
    """Refuses forged unsafe requests and hands every browser a token cookie to echo back."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.cookie_name = settings.csrf_cookie_name
        self.header_name = settings.csrf_header_name.lower()
        self.allowed_origins = frozenset(settings.effective_allowed_origins())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        runtime = scope["app"].state.runtime
        policy: CookiePolicy = runtime.cookies
        tokens: CsrfTokens = runtime.csrf
        name = csrf_cookie_name(policy, request, self.cookie_name)
        presented = request.cookies.get(name)
        # The session the request's access cookie names (the one its route will act in).
        access = policy.read_access(request)
        session_id = unverified_session_id(access) if access is not None else None
        cookie_valid = presented is not None and tokens.valid(presented, session_id)
        if self._needs_check(request):
            problem = self._problem(request, presented if cookie_valid else None)
            if problem is not None:
                await error_response(CsrfFailed(problem))(scope, receive, send)
                return
        # A safe request hands a browser its first token (or one for its session); a response
        # that sets an access cookie hands out a fresh one bound to the session that cookie
        # names (a token per session). Refusals and errors set no cookie.
        hand_out = (
            request.method in SAFE_METHODS
            and request.url.path in HANDOUT_PATHS
            and not cookie_valid
        )
        access_names = {policy.name, f"__Host-{policy.name}"}

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                issued = _access_cookie_set(headers, access_names)
                if hand_out or issued is not None:
                    bound_to = unverified_session_id(issued) if issued is not None else session_id
                    token = _set_cookie_header(policy, request, name, tokens.mint(bound_to))
                    message["headers"] = [*headers, token]
            await send(message)

        await self.app(scope, receive, send_with_token)

    def _carries_credentials(self, request: Request) -> bool:
        """Any cookie but our CSRF token may authenticate (access, refresh, future ones)."""
        return any(name.removeprefix("__Host-") != self.cookie_name for name in request.cookies)

    def _needs_check(self, request: Request) -> bool:
        if request.method in SAFE_METHODS:
            return False
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return False
        return request.url.path in ALWAYS_CHECKED_PATHS or self._carries_credentials(request)

    def _problem(self, request: Request, valid_cookie: str | None) -> str | None:
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        if origin is not None:
            if origin.lower() not in self.allowed_origins:
                return "The request's Origin is not allowed."
        elif site is not None:
            if site.lower() != "same-origin":
                return "The request comes from another site."
        elif self._carries_credentials(request):
            return "A cookie-authenticated request must carry an Origin header."
        else:
            # No cookie and no browser signal: an API client, which a forged page cannot be.
            return None
        sent = request.headers.get(self.header_name, "")
        if valid_cookie is None or not hmac.compare_digest(sent.encode(), valid_cookie.encode()):
            return "The CSRF token is missing or does not match its cookie."
        return None


def _access_cookie_set(headers: list[tuple[bytes, bytes]], names: set[str]) -> str | None:
    """The access token the response sets as a cookie, if it sets one (not a clearing one)."""
    for key, value in headers:
        if key.lower() != b"set-cookie":
            continue
        text = value.decode("latin-1")
        cookie_name, _, rest = text.partition("=")
        if cookie_name in names and "max-age=0" not in text.lower():
            return rest.split(";", 1)[0].strip('"')
    return None


def _set_cookie_header(
    policy: CookiePolicy, request: Request, name: str, token: str
) -> tuple[bytes, bytes]:
    carrier = Response()
    # Readable by the page's JavaScript on purpose: it copies the value into the header.
    carrier.set_cookie(
        name,
        token,
        path="/",
        domain=policy.domain,
        secure=policy.is_secure(request),
        httponly=False,
        samesite=policy.samesite,  # type: ignore[arg-type]
    )
    return next((k, v) for k, v in carrier.raw_headers if k == b"set-cookie")
