"""Headers every response carries, and no-store on anything that sets a cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from authsvc.config import Settings
from authsvc.web.forwarded import TrustedProxies

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
_HSTS = b"strict-transport-security"
_CACHE_CONTROL = b"cache-control"
_SET_COOKIE = b"set-cookie"
_NO_STORE = (_CACHE_CONTROL, b"no-store")

RawHeaders = list[tuple[bytes, bytes]]


class SecurityHeaders:
    """Works on the raw header list of the response's start message: this runs on every answer,
    and Starlette's header objects cost more than the headers themselves."""

    def __init__(self, settings: Settings):
        self.trusted_proxies = TrustedProxies(settings.trusted_proxies)
        self.behind_proxies = bool(self.trusted_proxies.networks)
        self.hsts = f"max-age={settings.hsts_max_age_seconds}".encode()

    def add(self, scope: Scope, headers: RawHeaders, present: set[bytes]) -> RawHeaders:
        """`headers` with the security headers added; `present` holds their names, lowercase."""
        headers.extend(header for header in _ALWAYS if header[0] not in present)
        # HSTS over plain HTTP is ignored by browsers and would only mislead.
        if _HSTS not in present and self._is_secure(scope):
            headers.append((_HSTS, self.hsts))
        if _SET_COOKIE in present:
            # A cached response with a token cookie would hand the token to the next user.
            headers = [header for header in headers if header[0].lower() != _CACHE_CONTROL]
            headers.append(_NO_STORE)
        return headers

    def _is_secure(self, scope: Scope) -> bool:
        if self.behind_proxies:
            return self.trusted_proxies.is_secure(Request(scope))
        # Without trusted proxies the scheme is the scope's own, read without a Request.
        return scope.get("scheme") in ("https", "wss")
