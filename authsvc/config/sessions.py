"""Settings of sessions and tokens, the cookies that carry them, and browser security."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import (
    CommaSeparated,
    CookieSecure,
    SameSite,
    SingleSession,
)

_COOKIE_NAME = r"^[A-Za-z0-9_\-]{1,64}$"
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class SessionSettings(SettingsGroup):
    """What an access token says and how long it and its session live."""

    model_config = SettingsConfigDict(title="Tokens and sessions")

    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description=(
            "The `iss` claim of issued tokens and the base of the discovery URLs: the public "
            "http(s) URL of the service (a trailing `/` is dropped). Unset, it follows the "
            "address served, `http://AUTHSVC_HOST:AUTHSVC_PORT` (loopback for a wildcard "
            "host), which suits a local run on any port; behind a proxy, set the public URL."
        ),
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://auth.example.com")
        return value.rstrip("/")

    audience: str = Field(
        default="authsvc",
        description="The `aud` claim of issued tokens; downstream verifiers expect the same.",
    )
    access_token_ttl_seconds: int = Field(
        default=15 * 60,
        ge=30,
        le=24 * 3600,
        description=(
            "Lifetime of an access token and of its cookie; at most "
            "AUTHSVC_SESSION_IDLE_TIMEOUT_SECONDS."
        ),
    )
    clock_leeway_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew tolerated when checking `exp`, `nbf` and `iat`.",
    )
    expose_token_in_body: bool = Field(
        default=False,
        description=(
            "Also return the access token in the `POST /login` body, for API clients that "
            "cannot hold cookies."
        ),
    )
    verified_token_cache_size: int = Field(
        default=10_000,
        ge=0,
        le=10_000_000,
        description=(
            "Access tokens whose signature check each process remembers (by their exact text, "
            "until they expire or their key is withdrawn), so a token seen before is not "
            "verified again; 0 verifies every token in full."
        ),
    )
    verified_token_cache_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        le=1024 * 1024 * 1024,
        description=(
            "Memory each process gives the tokens it remembers as verified, counted as their "
            "text, their claims (the session state as its JSON text, parsed again per request "
            "that reads it) and a fixed share per entry; when full the earliest verified goes "
            "first. 8 MiB holds some 3,500 tokens without state, or 1,000 of the largest (4 KB, "
            "2 KB of it state); 0 verifies every token in full."
        ),
    )
    session_state_max_bytes: int = Field(
        default=1024,
        ge=0,
        le=2048,
        description=(
            "Largest session state a token carries (the `sess` claim, written with "
            "`PATCH /session`); more is refused with 413 `session_state_too_large`."
        ),
    )
    # OWASP Session Management Cheat Sheet: idle timeouts of 15-30 minutes for low-risk
    # applications, an absolute cap of a working day (4-8 hours); "remember me" sessions get a
    # longer absolute lifetime and idle timeout.
    session_idle_timeout_seconds: int = Field(
        default=30 * 60,
        ge=60,
        description=(
            "A session ends when it goes this long without a refresh; at most "
            "AUTHSVC_SESSION_ABSOLUTE_TIMEOUT_SECONDS."
        ),
    )
    session_absolute_timeout_seconds: int = Field(
        default=8 * 3600,
        ge=300,
        description="A session ends this long after its login, however active it is.",
    )
    # "Remember me" is for days: a week away from the device does not end it.
    remember_idle_timeout_seconds: int = Field(
        default=7 * 86400,
        ge=60,
        description='Idle timeout of a session started with "remember me".',
    )
    remember_absolute_timeout_seconds: int = Field(
        default=30 * 86400,
        ge=300,
        description='Absolute lifetime of a session started with "remember me".',
    )
    # Kept short because the old token works (for access tokens only, never a new refresh
    # token) while the window lasts.
    refresh_grace_seconds: int = Field(
        default=10,
        ge=0,
        le=60,
        description=(
            "After a refresh token is rotated, the previous one still yields an access token "
            "(never a new refresh token) for this long, so two tabs refreshing at once are not "
            "mistaken for a stolen token."
        ),
    )
    single_session: SingleSession = Field(
        default=SingleSession.off,
        description=(
            "`off`: a user may hold many sessions; `newest`: a login ends every other session "
            "of the user at once; `deny`: a login is refused with 409 while another session "
            "is alive."
        ),
    )

    @model_validator(mode="after")
    def _lifetimes_nest(self) -> Self:
        if self.session_idle_timeout_seconds > self.session_absolute_timeout_seconds:
            msg = (
                "AUTHSVC_SESSION_IDLE_TIMEOUT_SECONDS may not exceed "
                "AUTHSVC_SESSION_ABSOLUTE_TIMEOUT_SECONDS"
            )
            raise ValueError(msg)
        if self.access_token_ttl_seconds > self.session_idle_timeout_seconds:
            msg = (
                "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS may not exceed "
                "AUTHSVC_SESSION_IDLE_TIMEOUT_SECONDS (an access token would outlive its session)"
            )
            raise ValueError(msg)
        return self


class CookieSettings(SettingsGroup):
    """The cookies that carry the access and refresh tokens."""

    model_config = SettingsConfigDict(title="Cookies")

    cookie_name: str = Field(
        default="authsvc_at",
        pattern=_COOKIE_NAME,
        description=(
            "Name of the access-token cookie; `__Host-` is prefixed when it is Secure and has "
            "no Domain."
        ),
    )
    refresh_cookie_name: str = Field(
        default="authsvc_rt",
        pattern=_COOKIE_NAME,
        description=(
            "Name of the refresh-token cookie; `__Secure-` is prefixed when it is Secure. "
            "Differs from AUTHSVC_COOKIE_NAME."
        ),
    )
    cookie_secure: CookieSecure = Field(
        default=CookieSecure.true,
        description=(
            "`true`: cookies are sent over HTTPS only; `false`: over plain HTTP too; `auto`: "
            "follow the request scheme, believing `X-Forwarded-Proto` only from "
            "AUTHSVC_TRUSTED_PROXIES, and always Secure when AUTHSVC_ISSUER is https://."
        ),
    )
    cookie_samesite: SameSite = Field(
        default=SameSite.lax,
        description="SameSite attribute of the cookies; `none` needs AUTHSVC_COOKIE_SECURE=true.",
    )
    cookie_domain: str | None = Field(
        default=None,
        description=(
            "Domain attribute of the cookies, to share them with subdomains; unset keeps them "
            "host-only."
        ),
    )

    @model_validator(mode="after")
    def _names_differ(self) -> Self:
        if self.refresh_cookie_name == self.cookie_name:
            raise ValueError("AUTHSVC_REFRESH_COOKIE_NAME must differ from AUTHSVC_COOKIE_NAME")
        return self

    @model_validator(mode="after")
    def _samesite_none_needs_secure(self) -> Self:
        if self.cookie_samesite is SameSite.none and self.cookie_secure is not CookieSecure.true:
            msg = (
                "AUTHSVC_COOKIE_SAMESITE=none requires AUTHSVC_COOKIE_SECURE=true "
                "(browsers drop SameSite=None cookies that are not Secure)"
            )
            raise ValueError(msg)
        return self


class BrowserSecuritySettings(SettingsGroup):
    """Which pages may call the service with cookies, and what browsers are told to enforce."""

    model_config = SettingsConfigDict(title="Browser security: CSRF, origins, CORS, HSTS")

    allowed_origins: CommaSeparated[str] = Field(
        default_factory=list,
        description=(
            "Comma-separated origins (`scheme://host[:port]`, no path, no wildcard) whose pages "
            "may send cookie-authenticated unsafe requests (CSRF check) and read responses with "
            "credentials (CORS); unset means the issuer's own origin only."
        ),
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_exact(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            # A wildcard or a path would make the CSRF check and CORS trust far more than meant.
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], no path, no wildcard"
                )
            origins.append(origin.lower())
        return origins

    csrf_cookie_name: str = Field(
        default="authsvc_csrf",
        pattern=_COOKIE_NAME,
        description="Name of the double-submit CSRF cookie, readable by the page's script.",
    )
    csrf_header_name: str = Field(
        default="X-CSRF-Token",
        pattern=r"^[A-Za-z0-9\-]{1,64}$",
        description="Header in which the page echoes the CSRF cookie on unsafe requests.",
    )
    hsts_max_age_seconds: int = Field(
        default=365 * 86400,
        ge=0,
        le=2 * 365 * 86400,
        description="`max-age` of `Strict-Transport-Security`, which is sent only over HTTPS.",
    )
