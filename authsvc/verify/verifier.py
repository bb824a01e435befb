"""TokenVerifier: authsvc's token rules, a verified-token cache, and the token-version check."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from fastapi import Depends, FastAPI, Request

from authsvc.clock import Clock, SystemClock
from authsvc.errors import (
    AuthError,
    CsrfFailed,
    DiscoveryError,
    Forbidden,
    InvalidToken,
    NotAuthenticated,
    SessionEnded,
    StepUpRequired,
    TokenRevoked,
    VerificationError,
    VerifierUnavailable,
)
from authsvc.revocation.sources import SessionEndSource, TokenVersionSource
from authsvc.tokens.access import AccessClaims, TokenPolicy, read_token, verify_access_token
from authsvc.tokens.memo import TokenMemo, TokenState, copy_of, footprint
from authsvc.verify.http import HttpClient, UrllibClient
from authsvc.verify.jwks import DEFAULT_ALGORITHMS, JwksCache, KeyProvider
from authsvc.verify.origin import cross_site_refusal
from authsvc.verify.web import install_error_handler

# The cache's default budget: some 3,500 tokens without state, 1,000 of the largest.
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class VerifiedSession:
    """Who the token speaks for, as a downstream service sees it."""

    user_id: str
    session_id: str
    roles: tuple[str, ...]
    state: Mapping[str, Any]
    token_version: int
    expires_at: datetime
    claims: AccessClaims = field(repr=False)

    def has_roles(self, *roles: str) -> bool:
        return set(roles).issubset(self.roles)

    @property
    def aal(self) -> int:
        """The login's assurance level: 1 (one factor) or 2 (a second factor shown)."""
        return self.claims.aal

    @property
    def amr(self) -> tuple[str, ...]:
        """How the user signed in (RFC 8176: pwd, otp, hwk, swk, user, mfa)."""
        return self.claims.amr

    @property
    def auth_time(self) -> datetime | None:
        """When the user signed in (refreshes keep it); None on tokens that do not say."""
        when = self.claims.auth_time
        return None if when is None else datetime.fromtimestamp(when, UTC)


class VerifiedTokenCache:
    """Verified tokens within a byte budget, keyed by the exact token string; when full, the
    earliest verified goes first.

    An entry ends with the token's `exp` and with its key's presence in the JWKS; the
    token-version check is not cached here, it runs on every request. The session state is
    kept as text and parsed again for each request that reads it (`authsvc.tokens.memo`).
    """

    def __init__(self, max_entries: int = 10_000, max_bytes: int = DEFAULT_CACHE_BYTES):
        self._memo: TokenMemo[VerifiedSession] = TokenMemo(max_bytes, max_entries)
        self._lookup = self._memo.get

    def get(self, token: str, now: float, keys: Mapping[str, object]) -> VerifiedSession | None:
        session = self._lookup(token)
        if session is None:
            return None
        if now >= session.claims.exp or session.claims.kid not in keys:
            self._memo.discard(token)
            return None
        if type(session.state) is TokenState:
            state = session.state.fresh()
            return copy_of(session, state=state, claims=copy_of(session.claims, sess=state))
        return session

    def put(self, token: str, session: VerifiedSession) -> None:
        if self._memo.max_entries == 0 or self._memo.max_bytes == 0:
            return
        if session.state:
            state = TokenState.of(session.state)
            session = copy_of(session, state=state, claims=copy_of(session.claims, sess=state))
        self._memo.put(token, session, footprint(token, session))

    @property
    def bytes(self) -> int:
        """What the remembered tokens take, by the cache's accounting."""
        return self._memo.bytes

    def __len__(self) -> int:
        return len(self._memo)


@dataclass
class VerifierStats:
    verified: int = 0
    cache_hits: int = 0
    refused: int = 0


class TokenVerifier:
    """Validates authsvc access tokens on every request, without calling authsvc.

    The signature is checked against the published JWKS, the claims with the same rules as
    authsvc (`authsvc.tokens`), `tv` against `versions` (see `authsvc.verify.sources`), and,
    when `versions` knows sessions (`DatabaseSource`, a `PushCachedSource` on one), whether the
    token's session has ended (`session_ended`).
    Over HTTP (the FastAPI dependency, the middleware) the access cookie is read only under the
    name authsvc gives it, and an unsafe request it authenticates must come from the service's
    own origin or one of `allowed_origins`; a bearer token needs neither.
    """

    def __init__(
        self,
        issuer: str,
        *,
        versions: TokenVersionSource,
        audience: str = "authsvc",
        jwks_url: str | None = None,
        leeway: timedelta = timedelta(seconds=30),
        algorithms: frozenset[str] = DEFAULT_ALGORITHMS,
        cookie_name: str = "authsvc_at",
        cookie_domain: str | None = None,
        allowed_origins: Iterable[str] = (),
        cache_size: int = 10_000,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Clock | None = None,
        http: HttpClient | None = None,
        keys: KeyProvider | None = None,
        jwks_max_stale: float = 600,
    ):
        self.issuer = issuer.rstrip("/")
        self.policy = TokenPolicy(issuer=self.issuer, audience=audience, leeway=leeway)
        self.versions = versions
        # Sources that know ended sessions (the database, a push cache on it) refuse their tokens.
        self._sessions = versions if isinstance(versions, SessionEndSource) else None
        self.clock = clock or SystemClock()
        self.jwks: KeyProvider = keys or JwksCache(
            http or UrllibClient(),
            jwks_url=jwks_url,
            issuer=self.issuer,
            algorithms=algorithms,
            clock=self.clock,
            max_stale=jwks_max_stale,
        )
        # authsvc names its cookie __Host-… wherever the prefix can be used: an https issuer
        # (always Secure) with no cookie Domain. There a plain-named cookie can only have been
        # planted (by a sibling subdomain, say), so only the prefixed name is read.
        if self.issuer.startswith("https://") and cookie_domain is None:
            self.cookie_names: tuple[str, ...] = (f"__Host-{cookie_name}",)
        else:
            self.cookie_names = (cookie_name,)
        self.allowed_origins = frozenset(origin.lower().rstrip("/") for origin in allowed_origins)
        self.cache = VerifiedTokenCache(cache_size, cache_bytes)
        self.stats = VerifierStats()
        # The warm path is a few microseconds; building a datetime per call would double it.
        self._timestamp: Callable[[], float] = (
            time.time if isinstance(self.clock, SystemClock) else self._clock_timestamp
        )

    def _clock_timestamp(self) -> float:
        return self.clock.now().timestamp()

    def verify(self, token: str) -> VerifiedSession:
        """The session a token speaks for; raises InvalidToken (401) or VerifierUnavailable."""
        try:
            session = self._verified(token)
            version = self.versions.current_version(
                session.user_id, token=token, claimed=session.token_version
            )
        except InvalidToken:
            self.stats.refused += 1
            raise
        if version is None or version != session.token_version:
            self.stats.refused += 1
            raise TokenRevoked()
        if self._sessions is not None and self._sessions.session_ended(
            session.session_id, issued_at=session.claims.iat
        ):
            self.stats.refused += 1
            raise SessionEnded()
        self.stats.verified += 1
        return session

    def _verified(self, token: str) -> VerifiedSession:
        now = self._timestamp()
        try:
            keys = self.jwks.keys(now)
        except DiscoveryError as exc:
            raise VerifierUnavailable("The signing keys cannot be fetched.") from exc
        cached = self.cache.get(token, now, keys)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        # Parsed once: the header rules (size, typ, crit, kid, alg) pick the key, and the same
        # segments are then verified.
        parsed = read_token(token)
        if parsed.kid not in keys:
            keys = self.jwks.keys_for(parsed.kid)
        at = datetime.fromtimestamp(now, UTC)
        claims = verify_access_token(parsed, keys, self.policy, now=at)
        session = VerifiedSession(
            user_id=claims.sub,
            session_id=claims.sid,
            roles=claims.roles,
            # Read-only: the same object is handed to every request that presents this token.
            state=MappingProxyType(dict(claims.sess)),
            token_version=claims.tv,
            expires_at=datetime.fromtimestamp(claims.exp, UTC),
            claims=claims,
        )
        self.cache.put(token, session)
        return session

    def token_from(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
        """The bearer token if the Authorization header carries one, else authsvc's cookie.

        No Origin check: an HTTP handler of an unsafe method wants `presented_token` instead.
        """
        bearer = _bearer_token(headers)
        return bearer if bearer is not None else self._cookie_token(cookies)

    def presented_token(
        self, method: str, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> str | None:
        """The token an HTTP request presents; CsrfFailed for a cookie from a foreign origin."""
        bearer = _bearer_token(headers)
        if bearer is not None:
            return bearer
        token = self._cookie_token(cookies)
        if token is not None:
            refusal = cross_site_refusal(method, headers, self.allowed_origins)
            if refusal is not None:
                raise CsrfFailed(refusal)
        return token

    def _cookie_token(self, cookies: Mapping[str, str]) -> str | None:
        for name in self.cookie_names:
            value = cookies.get(name)
            if value:
                return value
        return None

    # --- FastAPI ---------------------------------------------------------------------------

    def session(self, request: Request) -> VerifiedSession:
        """`Depends(verifier.session)`: the verified session, or a 401 (403 for a cross-site
        cookie, 503 if it cannot tell)."""
        try:
            token = self.presented_token(request.method, request.headers, request.cookies)
            if token is None:
                raise NotAuthenticated()
            return self.verify(token)
        except AuthError as exc:
            raise VerificationError(exc) from None

    def require_roles(self, *roles: str) -> Callable[..., VerifiedSession]:
        """`Depends(verifier.require_roles("admin"))`: 401 without a session, 403 without a role."""
        needed = frozenset(roles)

        def dependency(session: VerifiedSession = Depends(self.session)) -> VerifiedSession:  # noqa: B008
            if not needed.issubset(session.roles):
                raise VerificationError(
                    Forbidden("This needs the role(s): " + ", ".join(sorted(needed)))
                )
            return session

        return dependency

    def require_aal(
        self, level: int, *, max_age: int | None = None
    ) -> Callable[..., VerifiedSession]:
        """`Depends(verifier.require_aal(2))`: 403 `step_up_required` unless the login showed a
        second factor (within `max_age` seconds, when given)."""

        def dependency(session: VerifiedSession = Depends(self.session)) -> VerifiedSession:  # noqa: B008
            recent = max_age is None or (
                session.claims.auth_time is not None
                and self._clock_timestamp() - session.claims.auth_time <= max_age
            )
            if session.aal < level or not recent:
                raise VerificationError(StepUpRequired(f"This needs a login at level {level}."))
            return session

        return dependency

    def install(self, app: FastAPI) -> None:
        """Render this verifier's 401/403/503 answers as `{"error", "detail"}` JSON."""
        install_error_handler(app)

    def close(self) -> None:
        self.versions.close()


def _bearer_token(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None
