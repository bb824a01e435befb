"""CSRF protection for cookie-authenticated unsafe requests: an Origin check plus a signed
double-submit token (OWASP CSRF cheat sheet), echoed in a header by scripts or in a hidden form
field by server-rendered forms. Bearer requests are exempt: a foreign page cannot attach an
Authorization header without a CORS preflight we refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import cached_property
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.config import Settings
from authsvc.errors import CsrfFailed, PayloadTooLarge, error_response
from authsvc.tokens.access import VERIFIED_SESSION_STATE, unverified_session_id
from authsvc.web.cookies import CookiePolicy

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Login CSRF (logging the victim into the attacker's account) is refused too, and so is every
# form of the hosted pages, whether or not the browser sent a cookie with it.
ALWAYS_CHECKED_PATHS = frozenset({"/login", "/login/mfa", "/login/mfa/enrol"})
ALWAYS_CHECKED_PREFIXES = ("/ui/",)
# Checked for its Origin even without any cookie: its answer expires the cookies and sends
# Clear-Site-Data, so a foreign page must not be able to sign a browser out.
ORIGIN_CHECKED_PATHS = frozenset({"/logout"})
# The hidden field in which a server-rendered form echoes the token (no script sets a header).
FORM_FIELD = "csrf_token"
# Where a page finds the token to embed in its forms (`request.state`).
PAGE_TOKEN_STATE = "csrf_page_token"
_FORM_TYPE = "application/x-www-form-urlencoded"
# Where a page gets its first token: the call an SPA makes on load. Not on every safe
# response, because a Set-Cookie would make cacheable answers (the JWKS) uncacheable.
HANDOUT_PATHS = frozenset({"/session"})
_MAX_TOKEN_CHARS = 256
# Sessions whose valid token is remembered; the memory is emptied when full.
_MAX_REMEMBERED_SESSIONS = 4096


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

        # session id -> the token last found valid for it. A browser sends the same token with
        # every call, and its two HMACs were about a twelfth of a warm GET /session's
        # instructions; a token is remembered only after the full check passed, and compared in
        # constant time.
        self._valid_for_session: dict[str, str] = {}

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
        if session_id is not None:
            known = self._valid_for_session.get(session_id)
            if known is not None and hmac.compare_digest(known.encode(), token.encode()):
                return True
        if not self._signed_for(token, session_id):
            return False
        if session_id is not None:
            if len(self._valid_for_session) >= _MAX_REMEMBERED_SESSIONS:
                self._valid_for_session.clear()
            self._valid_for_session[session_id] = token
        return True

    def _signed_for(self, token: str, session_id: str | None) -> bool:
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


class Presented:
    """The request's CSRF cookie and session, worked out on first use: a safe request to an API
    route never asks (parsing the access token for its session is the costly part)."""

    def __init__(
        self,
        request: Request,
        policy: CookiePolicy,
        tokens: CsrfTokens,
        base_name: str,
        known_session_id: Callable[[str], str | None],
    ):
        self._request = request
        # The session of a token the service has verified before, without parsing it again.
        self._known_session_id = known_session_id
        self._policy = policy
        self._tokens = tokens
        self._base_name = base_name

    @cached_property
    def cookie_name(self) -> str:
        return csrf_cookie_name(self._policy, self._request, self._base_name)

    @cached_property
    def session_id(self) -> str | None:
        """The session the request's access cookie names (the one its route will act in)."""
        access = self._policy.read_access(self._request)
        if access is None:
            return None
        verified = self._request.scope["state"].get(VERIFIED_SESSION_STATE)
        if verified is not None and verified[0] == access:
            return str(verified[1])
        return self._known_session_id(access) or unverified_session_id(access)

    @cached_property
    def valid_cookie(self) -> str | None:
        """The CSRF cookie, if we signed it for this request's session."""
        presented = self._request.cookies.get(self.cookie_name)
        if presented is not None and self._tokens.valid(presented, self.session_id):
            return presented
        return None


class PageToken:
    """The token a server-rendered form embeds: the browser's valid one, or one minted on first
    use, whose cookie the middleware then sets on the page's answer."""

    def __init__(self, tokens: CsrfTokens, presented: Presented):
        self.tokens = tokens
        self.presented = presented
        self.minted: str | None = None

    def value(self) -> str:
        current = self.presented.valid_cookie
        if current is not None:
            return current
        if self.minted is None:
            self.minted = self.tokens.mint(self.presented.session_id)
        return self.minted


def page_token(request: Request) -> str:
    """The CSRF token for the forms of the page being rendered."""
    token: PageToken = request.scope["state"][PAGE_TOKEN_STATE]
    return token.value()


def _bearer(request: Request) -> bool:
    """Whether the request authenticates with an Authorization header (which a foreign page
    cannot attach without a CORS preflight), not with cookies."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())


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
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        runtime = scope["app"].state.runtime
        policy: CookiePolicy = runtime.cookies
        tokens: CsrfTokens = runtime.csrf
        presented = Presented(
            request, policy, tokens, self.cookie_name, runtime.issuer.verified.session_id
        )
        if self._needs_check(request):
            refusal, receive = await self._refusal(request, receive, presented.valid_cookie)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        page = PageToken(tokens, presented)
        scope.setdefault("state", {})[PAGE_TOKEN_STATE] = page
        # A safe request hands a browser its first token (or one for its session); a response
        # that sets an access cookie hands out a fresh one bound to the session that cookie
        # names (a token per session). This middleware's refusals set none.
        handout_path = request.method in SAFE_METHODS and scope["path"] in HANDOUT_PATHS

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                issued = _access_cookie_set(headers, policy.name)
                token = None
                if issued is not None:
                    token = tokens.mint(unverified_session_id(issued))
                elif page.minted is not None:
                    # A page that embedded a new token in its forms gets exactly that one.
                    token = page.minted
                elif handout_path and presented.valid_cookie is None and not _bearer(request):
                    # A bearer client is exempt from the check: it has nothing to echo back.
                    token = tokens.mint(presented.session_id)
                if token is not None:
                    message["headers"] = [
                        *headers,
                        _set_cookie_header(policy, request, presented.cookie_name, token),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_token)
        finally:
            # The page token refers back to the request, and so to this scope: dropping it here
            # lets the whole request be freed as soon as it is answered, instead of by the
            # cycle collector, whose passes stall every request in flight.
            scope["state"].pop(PAGE_TOKEN_STATE, None)

    def _carries_credentials(self, request: Request) -> bool:
        """Any cookie but our CSRF token may authenticate (access, refresh, future ones)."""
        return any(name.removeprefix("__Host-") != self.cookie_name for name in request.cookies)

    def _needs_check(self, request: Request) -> bool:
        if request.method in SAFE_METHODS:
            return False
        if _bearer(request):
            return False
        path = request.scope["path"]
        return (
            path in ALWAYS_CHECKED_PATHS
            or path.startswith(ALWAYS_CHECKED_PREFIXES)
            or path in ORIGIN_CHECKED_PATHS
            or self._carries_credentials(request)
        )

    async def _refusal(
        self, request: Request, receive: Receive, valid_cookie: str | None
    ) -> tuple[CsrfFailed | PayloadTooLarge | None, Receive]:
        """Why the request is refused (None: it may pass), and how to read its body from here."""
        browser = "origin" in request.headers or "sec-fetch-site" in request.headers
        if not browser and not self._carries_credentials(request):
            # No cookie and no browser signal: an API client, which a forged page cannot be.
            return None, receive
        problem = self._origin_problem(request)
        if problem is not None:
            return CsrfFailed(problem), receive
        if request.scope["path"] in ORIGIN_CHECKED_PATHS and not self._carries_credentials(request):
            # A page of an allowed origin signing out a browser that holds no session.
            return None, receive
        sent = request.headers.get(self.header_name)
        if sent is None and _media_type(request) == _FORM_TYPE:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                return PayloadTooLarge(), receive
            sent = _form_token(body)
            receive = _replay(body, receive)
        if (
            valid_cookie is None
            or sent is None
            or not hmac.compare_digest(sent.encode(), valid_cookie.encode())
        ):
            return CsrfFailed("The CSRF token is missing or does not match its cookie."), receive
        return None, receive

    def _origin_problem(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None:
            allowed = origin.lower() in self.allowed_origins
            return None if allowed else "The request's Origin is not allowed."
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return None if site.lower() == "same-origin" else "The request comes from another site."
        return "A cookie-authenticated request must carry an Origin header."


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _form_token(body: bytes) -> str | None:
    """The hidden field's value, if the form carries it exactly once."""
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=32, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get(FORM_FIELD, [])
    return values[0] if len(values) == 1 else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body already read, then listens as before."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _access_cookie_set(headers: list[tuple[bytes, bytes]], base_name: str) -> str | None:
    """The access token the response sets as a cookie, if it sets one (not a clearing one)."""
    names = (base_name, f"__Host-{base_name}")
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
