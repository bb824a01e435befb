"""Set-Cookie policy for the access and refresh tokens: Secure (true/false/auto), SameSite,
name prefixes, and the refresh cookie's narrowed paths."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from authsvc.config import CookieSecure, Settings
from authsvc.web.forwarded import TrustedProxies, request_is_secure

# The endpoints that read the refresh cookie, and so the only paths it is sent to.
REFRESH_COOKIE_PATHS = ("/refresh", "/logout")


@dataclass(frozen=True)
class CookiePolicy:
    name: str
    secure: CookieSecure
    samesite: str
    domain: str | None
    trusted_proxies: TrustedProxies
    refresh_name: str = "authsvc_rt"
    # Browsers reach an https issuer over HTTPS, whatever scheme the request seems to have here.
    issuer_is_https: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(
            name=settings.cookie_name,
            secure=settings.cookie_secure,
            samesite=settings.cookie_samesite.value,
            domain=settings.cookie_domain,
            trusted_proxies=TrustedProxies(settings.trusted_proxies),
            refresh_name=settings.refresh_cookie_name,
            issuer_is_https=settings.issuer.startswith("https://"),
        )

    def is_secure(self, request: Request) -> bool:
        if self.secure is CookieSecure.auto:
            # Behind a TLS-terminating balancer that is not a trusted proxy every request looks
            # like plain HTTP: an https issuer must never lose Secure (and its prefixes) to that.
            return self.issuer_is_https or request_is_secure(request, self.trusted_proxies)
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


def insecure_cookie_warnings(settings: Settings) -> list[str]:
    """What the operator should hear at start-up: settings that send cookies without Secure
    although browsers reach the service over HTTPS."""
    if settings.issuer.startswith("https://") and settings.cookie_secure is CookieSecure.false:
        return [
            f"AUTHSVC_COOKIE_SECURE=false sends the token cookies without Secure (and without "
            f"their __Host-/__Secure- prefixes) although AUTHSVC_ISSUER is {settings.issuer}: "
            "anyone on the network path of a plain-HTTP request can read them. Set it to true "
            "(or auto)."
        ]
    return []
