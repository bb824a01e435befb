"""Headers every response carries, and no-store on anything that sets a cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.config import Settings
from authsvc.web.forwarded import TrustedProxies, request_is_secure

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
_HSTS = b"strict-transport-security"
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")

RawHeaders = list[tuple[bytes, bytes]]


class SecurityHeaders:
    """Works on the raw header list of the response's start message: this runs on every answer,
    and Starlette's header objects cost more than the headers themselves."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.trusted_proxies = TrustedProxies(settings.trusted_proxies)
        self.hsts = f"max-age={settings.hsts_max_age_seconds}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(scope, list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, scope: Scope, headers: RawHeaders) -> RawHeaders:
        present = {name.lower() for name, _ in headers}
        headers.extend(header for header in _ALWAYS if header[0] not in present)
        # HSTS over plain HTTP is ignored by browsers and would only mislead.
        if _HSTS not in present and request_is_secure(Request(scope), self.trusted_proxies):
            headers.append((_HSTS, self.hsts))
        if b"set-cookie" in present:
            # A cached response with a token cookie would hand the token to the next user.
            headers = [header for header in headers if header[0].lower() != _CACHE_CONTROL]
            headers.append(_NO_STORE)
        return headers
