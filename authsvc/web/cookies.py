"""Set-Cookie policy for the access and refresh tokens: Secure (true/false/auto), SameSite,
name prefixes, and the refresh cookie's narrowed paths."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from authsvc.config import CookieSecure, Settings
from authsvc.web.forwarded import request_is_secure

# The endpoints that read the refresh cookie, and so the only paths it is sent to.
REFRESH_COOKIE_PATHS = ("/refresh", "/logout")


@dataclass(frozen=True)
class CookiePolicy:
    name: str
    secure: CookieSecure
    samesite: str
    domain: str | None
    trusted_proxies: frozenset[str]
    refresh_name: str = "authsvc_rt"

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(
            name=settings.cookie_name,
            secure=settings.cookie_secure,
            samesite=settings.cookie_samesite.value,
            domain=settings.cookie_domain,
            trusted_proxies=frozenset(settings.trusted_proxies),
            refresh_name=settings.refresh_cookie_name,
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

    # A cookie's Path covers one prefix, and the contract puts /refresh and /logout at the top
    # level, so the same token goes out as two cookies of the same name, one per path: no other
    # endpoint (and no script-reachable path) ever receives it. Both are set and cleared together.

    def refresh_cookie_name(self, request: Request) -> str:
        # __Host- needs Path=/, so the narrowed cookie can only have __Secure- (Secure required).
        if self.is_secure(request):
            return f"__Secure-{self.refresh_name}"
        return self.refresh_name

    def read_refresh(self, request: Request) -> str | None:
        return request.cookies.get(self.refresh_cookie_name(request))

    def set_refresh(
        self, response: Response, request: Request, token: str, max_age: int | None
    ) -> None:
        """`max_age=None` makes a browser-session cookie (no "remember me")."""
        for path in REFRESH_COOKIE_PATHS:
            response.set_cookie(
                self.refresh_cookie_name(request),
                token,
                max_age=max_age,
                path=path,
                domain=self.domain,
                secure=self.is_secure(request),
                httponly=True,
                samesite="strict",
            )
        response.headers["Cache-Control"] = "no-store"

    def clear_refresh(self, response: Response, request: Request) -> None:
        for path in REFRESH_COOKIE_PATHS:
            response.delete_cookie(
                self.refresh_cookie_name(request),
                path=path,
                domain=self.domain,
                secure=self.is_secure(request),
                httponly=True,
                samesite="strict",
            )
        response.headers["Cache-Control"] = "no-store"

    def clear_all(self, response: Response, request: Request) -> None:
        self.clear_access(response, request)
        self.clear_refresh(response, request)
