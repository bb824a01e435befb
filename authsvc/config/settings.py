"""`Settings`: every group in one frozen object, and the rules that span groups."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError, model_validator
from pydantic_settings import SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from authsvc.config.accounts import AccountSettings, LoginThrottleSettings, PasswordHashingSettings
from authsvc.config.base import SettingsGroup
from authsvc.config.federation import FederationSettings
from authsvc.config.files import SettingsFileError
from authsvc.config.mail import MailSettings
from authsvc.config.mfa import MfaSettings
from authsvc.config.operations import (
    DownstreamSettings,
    HostedPagesSettings,
    MaintenanceSettings,
    ObservabilitySettings,
)
from authsvc.config.server import DatabaseSettings, ServerSettings
from authsvc.config.sessions import BrowserSecuritySettings, CookieSettings, SessionSettings
from authsvc.config.signing import SigningKeySettings
from authsvc.config.values import TokenVersionCache


class Settings(
    ServerSettings,
    DatabaseSettings,
    SigningKeySettings,
    SessionSettings,
    CookieSettings,
    BrowserSecuritySettings,
    LoginThrottleSettings,
    AccountSettings,
    PasswordHashingSettings,
    HostedPagesSettings,
    MailSettings,
    MfaSettings,
    FederationSettings,
    ObservabilitySettings,
    DownstreamSettings,
    MaintenanceSettings,
):
    """Everything the service can be told; validated once, at start-up."""

    model_config = SettingsConfigDict(title="Settings")

    @model_validator(mode="before")
    @classmethod
    def _issuer_follows_the_address(cls, data: Any) -> Any:
        """Unset, the issuer is the address served, so discovery and the CSRF check match it."""
        if not isinstance(data, dict) or data.get("issuer") not in (None, ""):
            return data
        host = str(data.get("host") or ServerSettings.model_fields["host"].default)
        port = str(data.get("port") or ServerSettings.model_fields["port"].default).strip()
        if not port.isdigit():
            return data  # the port's own validation explains what is wrong
        return {**data, "issuer": served_url(host, int(port))}

    @model_validator(mode="after")
    def _cache_channel_exists(self) -> Self:
        channel = self.token_version_cache
        if channel is TokenVersionCache.postgres and not self.database_url.startswith(
            ("postgresql", "postgres:")
        ):
            msg = (
                "AUTHSVC_TOKEN_VERSION_CACHE=postgres needs a PostgreSQL AUTHSVC_DATABASE_URL "
                "(LISTEN/NOTIFY); with another database use redis and AUTHSVC_REDIS_URL, or off"
            )
            raise ValueError(msg)
        if channel is TokenVersionCache.sqlite and not sqlite_file(self.database_url):
            msg = (
                "AUTHSVC_TOKEN_VERSION_CACHE=sqlite needs AUTHSVC_DATABASE_URL to name a SQLite "
                "file (sqlite:///path)"
            )
            raise ValueError(msg)
        if channel is TokenVersionCache.redis and self.redis_url is None:
            raise ValueError("AUTHSVC_TOKEN_VERSION_CACHE=redis needs AUTHSVC_REDIS_URL")
        return self

    @model_validator(mode="after")
    def _listen_url_beside_postgres(self) -> Self:
        if self.listen_database_url is not None and not self.database_url.startswith(
            ("postgresql", "postgres:")
        ):
            msg = (
                "AUTHSVC_LISTEN_DATABASE_URL is where PostgreSQL listeners connect; it needs a "
                "PostgreSQL AUTHSVC_DATABASE_URL"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _mail_complete(self) -> Self:
        if self.smtp_url is not None and self.mail_from is None:
            raise ValueError("AUTHSVC_SMTP_URL needs AUTHSVC_MAIL_FROM, the sender of every mail")
        if self.require_verified_email and self.smtp_url is None:
            msg = (
                "AUTHSVC_REQUIRE_VERIFIED_EMAIL=true needs AUTHSVC_SMTP_URL: without mail, nobody "
                "could confirm an address"
            )
            raise ValueError(msg)
        return self

    @property
    def listen_url(self) -> str:
        """Where push listeners connect: AUTHSVC_LISTEN_DATABASE_URL, else the database."""
        return self.listen_database_url or self.database_url

    @property
    def link_base(self) -> str:
        """Where the links in mails point: AUTHSVC_PUBLIC_URL, else the issuer."""
        return self.public_url or self.issuer

    def effective_allowed_origins(self) -> list[str]:
        """The configured origins, or the issuer's own origin when none is configured."""
        if self.allowed_origins:
            return list(self.allowed_origins)
        scheme, _, rest = self.issuer.partition("://")
        return [f"{scheme}://{rest.split('/')[0]}".lower()]


def served_url(host: str, port: int) -> str:
    """The http URL of `host:port` as a client on this machine reaches it."""
    host = host.strip()
    # A wildcard address is reached through loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


# The reference (docs/configuration.md) shows the groups in the order Settings lists them.
GROUPS: tuple[type[SettingsGroup], ...] = tuple(
    base for base in Settings.__bases__ if issubclass(base, SettingsGroup)
)


def describe_validation_error(error: Exception) -> str:
    """Turn a pydantic ValidationError into lines that name the environment variables (and a
    settings source's failure, such as an unreadable AUTHSVC_*_FILE, into its own message)."""
    if isinstance(error, SettingsError) and isinstance(error.__cause__, SettingsFileError):
        return str(error.__cause__)
    if not isinstance(error, ValidationError):
        return str(error)
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        name = f"AUTHSVC_{field.upper()}" if field else "settings"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but not set"
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def sqlite_file(database_url: str) -> str | None:
    """The file a SQLite URL names; None for another database or an in-memory one."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database
