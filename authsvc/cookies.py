"""Set-Cookie policy for the access token: Secure (true/false/auto), SameSite, __Host- prefix."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from authsvc.config import CookieSecure, Settings


def client_is_trusted_proxy(request: Request, trusted_proxies: frozenset[str]) -> bool:
    return request.client is not None and request.client.host in trusted_proxies


def request_is_secure(request: Request, trusted_proxies: frozenset[str]) -> bool:
    """The scheme the browser used; X-Forwarded-Proto counts only from a trusted proxy."""
    if client_is_trusted_proxy(request, trusted_proxies):
        forwarded = request.headers.get("x-forwarded-proto", "")
        if forwarded:
            return forwarded.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


@dataclass(frozen=True)
class CookiePolicy:
    name: str
    secure: CookieSecure
    samesite: str
    domain: str | None
    trusted_proxies: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(
            name=settings.cookie_name,
            secure=settings.cookie_secure,
            samesite=settings.cookie_samesite.value,
            domain=settings.cookie_domain,
            trusted_proxies=frozenset(settings.trusted_proxies),
        )

    def is_secure(self, request: Request) -> bool:
        if self.secure is CookieSecure.auto:
            return request_is_secure(request, self.trusted_proxies)
        return self.secure is CookieSecure.true

    def access_cookie_name(self, request: Request) -> str:
        # __Host- makes the browser refuse the cookie unless Secure, Path=/ and no Domain,
        # which stops a sibling subdomain from planting its own token cookie.
        if self.is_secure(request) and self.domain is None:
            return f"__Host-{self.name}"
        return self.name

    def read_access(self, request: Request) -> str | None:
        return request.cookies.get(self.access_cookie_name(request))

    def set_access(self, response: Response, request: Request, token: str, max_age: int) -> None:
        response.set_cookie(
            self.access_cookie_name(request),
            token,
            max_age=max_age,
            path="/",
            domain=self.domain,
            secure=self.is_secure(request),
            httponly=True,
            samesite=self.samesite,  # type: ignore[arg-type]
        )
        response.headers["Cache-Control"] = "no-store"

    def clear_access(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            self.access_cookie_name(request),
            path="/",
            domain=self.domain,
            secure=self.is_secure(request),
            httponly=True,
            samesite=self.samesite,  # type: ignore[arg-type]
        )
        response.headers["Cache-Control"] = "no-store"
