"""Service settings, read from AUTHSVC_* environment variables and an optional .env file."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authsvc.errors import MissingSetting
from authsvc.throttle.syntax import parse_limits


class LogFormat(StrEnum):
    json = "json"
    text = "text"


class CookieSecure(StrEnum):
    true = "true"
    false = "false"
    # Follow the request scheme (X-Forwarded-Proto only from trusted proxies).
    auto = "auto"


class SameSite(StrEnum):
    lax = "lax"
    strict = "strict"
    none = "none"


class SigningAlgorithm(StrEnum):
    ES256 = "ES256"
    EdDSA = "EdDSA"
    RS256 = "RS256"


class SingleSession(StrEnum):
    off = "off"
    # A new login ends every other session of the user at once (token version bump).
    newest = "newest"
    # A login while another session is alive is refused with 409.
    deny = "deny"


class Registration(StrEnum):
    closed = "closed"
    open = "open"


# --- issue7b: token-version cache ---
class TokenVersionCache(StrEnum):
    # Read the user's row on every request: a revocation is seen by the very next request.
    off = "off"
    # LISTEN/NOTIFY on the PostgreSQL database: sent in the bumping transaction itself.
    postgres = "postgres"
    # Pub/sub on AUTHSVC_REDIS_URL: published right after the bumping transaction commits.
    redis = "redis"


# Covers clock skew between instances and downstream services in the key rotation timeline.
KEY_TIMING_MARGIN_SECONDS = 60
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# --- issue4: downstream verification ---
def _check_introspection_clients(entries: list[str]) -> list[str]:
    """Each entry is `<client id>:sha256:<hex SHA-256 of the secret>`; ids are unique."""
    seen: set[str] = set()
    for entry in entries:
        client_id, _, rest = entry.partition(":")
        scheme, _, digest = rest.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", client_id):
            raise ValueError(f"client id {client_id!r} must be 1-64 letters, digits, '.', '_', '-'")
        if scheme != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(
                f"client {client_id!r}: give `id:sha256:<64 hex digits>` "
                "(`authsvc introspection-client new ID` prints one), never the plain secret"
            )
        if client_id in seen:
            raise ValueError(f"client id {client_id!r} is listed twice")
        seen.add(client_id)
    return entries


def _check_redis_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


class Settings(BaseSettings):
    """Everything the service can be told; validated once, at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHSVC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = "sqlite:///./var/authsvc.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)

    # Needed only by commands that touch signing keys (serve, keys ...); checked there.
    key_encryption_secret: SecretStr | None = Field(
        default=None, description="Encrypts signing keys at rest; at least 32 characters."
    )
    signing_algorithm: SigningAlgorithm = SigningAlgorithm.ES256
    create_key_if_missing: bool = True

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "authsvc"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    clock_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_max_age_seconds: int = Field(default=300, ge=0, le=86400)
    session_state_max_bytes: int = Field(default=1024, ge=0, le=2048)
    # OWASP Session Management Cheat Sheet: idle timeouts of 15-30 minutes for low-risk
    # applications, an absolute cap of a working day (4-8 hours); "remember me" sessions get a
    # longer absolute lifetime (and idle timeout, see remember_idle_timeout_seconds).
    session_idle_timeout_seconds: int = Field(default=30 * 60, ge=60)
    session_absolute_timeout_seconds: int = Field(default=8 * 3600, ge=300)
    remember_absolute_timeout_seconds: int = Field(default=30 * 86400, ge=300)

    cookie_name: str = Field(default="authsvc_at", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    cookie_secure: CookieSecure = CookieSecure.true
    cookie_samesite: SameSite = SameSite.lax
    cookie_domain: str | None = None
    # Proxies whose X-Forwarded-Proto/-For headers are believed (exact client addresses).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Return the access token in the /login body too, for API clients that cannot hold cookies.
    expose_token_in_body: bool = False

    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    # --- issue3: signing keys and rotation ---
    # Every instance reloads its key ring from the database this often: the bound on how long a
    # rotation or a revoke made anywhere takes to reach every instance.
    key_refresh_seconds: int = Field(default=10, ge=1, le=300)
    # How long a new key is published before it signs; unset = JWKS max-age + refresh + 60 s.
    key_publish_ahead_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)
    # Start a rotation when the active key is older than this many days; 0 = only by hand.
    key_rotation_days: int = Field(default=0, ge=0, le=3650)
    # HS256 mode when set (comma-separated): the first secret signs, all of them verify.
    jwt_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    @field_validator("jwt_secrets", mode="before")
    @classmethod
    def _parse_secrets(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("jwt_secrets")
    @classmethod
    def _secrets_strong(cls, value: list[SecretStr]) -> list[SecretStr]:
        plain = [secret.get_secret_value() for secret in value]
        # RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
        if any(len(secret.encode()) < 32 for secret in plain):
            raise ValueError("every secret must be at least 32 bytes (`openssl rand -base64 32`)")
        if len(set(plain)) != len(plain):
            raise ValueError("the secrets must differ from one another")
        return value

    @model_validator(mode="after")
    def _publish_ahead_covers_caches(self) -> Self:
        ahead = self.key_publish_ahead_seconds
        if ahead is not None and ahead < self.jwks_max_age_seconds + self.key_refresh_seconds:
            msg = (
                "AUTHSVC_KEY_PUBLISH_AHEAD_SECONDS must be at least AUTHSVC_JWKS_MAX_AGE_SECONDS + "
                "AUTHSVC_KEY_REFRESH_SECONDS, or downstream JWKS caches would not know a new key "
                "when it starts signing"
            )
            raise ValueError(msg)
        return self

    @property
    def hs256_mode(self) -> bool:
        return bool(self.jwt_secrets)

    @property
    def key_publish_ahead(self) -> int:
        """Seconds between publishing a new key and signing with it."""
        if self.key_publish_ahead_seconds is not None:
            return self.key_publish_ahead_seconds
        return self.jwks_max_age_seconds + self.key_refresh_seconds + KEY_TIMING_MARGIN_SECONDS

    # --- end issue3 ---

    # --- issue7: fleet operation (logs, metrics, shutdown) ---
    # One JSON object per log line (with the request id); `text` for reading by eye.
    log_format: LogFormat = LogFormat.json
    # GET /metrics on the service port; keep it off the public listener (see deploy/nginx).
    metrics_enabled: bool = True
    # How long SIGTERM waits for in-flight requests before closing their connections.
    shutdown_grace_seconds: int = Field(default=20, ge=1, le=600)
    # --- issue6: security hardening (CSRF, CORS, login throttling, headers) ---
    # Origins (scheme://host[:port]) whose pages may send cookie-authenticated unsafe requests
    # and read responses with credentials; empty means the issuer's own origin only.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    csrf_cookie_name: str = Field(default="authsvc_csrf", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    csrf_header_name: str = Field(default="X-CSRF-Token", pattern=r"^[A-Za-z0-9\-]{1,64}$")
    # Throttling counters live in Redis when the shared AUTHSVC_REDIS_URL is set (so every
    # instance sees them); without it each process counts alone, in memory.
    login_throttle_enabled: bool = True
    # Failed logins allowed per account from addresses that never logged in to it (`limits` syntax).
    login_limit_account: str = "100/hour"
    # Failed logins allowed per account from one client address: a growing delay, not a lockout.
    login_limit_client_account: str = "5/minute;20/hour"
    # Failed logins allowed from one client address across all accounts (credential stuffing).
    login_limit_client: str = "100/hour"
    # How long an address that proved an account's password escapes that account's global limit.
    login_known_client_days: int = Field(default=30, ge=0, le=365)
    hsts_max_age_seconds: int = Field(default=365 * 86400, ge=0, le=2 * 365 * 86400)

    # --- issue5: refresh tokens, sessions, passwords, admin, purge ---
    refresh_cookie_name: str = Field(default="authsvc_rt", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    # Two tabs refreshing with the same token at once: the loser gets an access token for the
    # same session within this window instead of being treated as a thief. Kept short because
    # the old token works (for access tokens only, never a new refresh token) while it lasts.
    refresh_grace_seconds: int = Field(default=10, ge=0, le=60)
    # "Remember me" is for days: a week away from the device does not end it.
    remember_idle_timeout_seconds: int = Field(default=7 * 86400, ge=60)
    single_session: SingleSession = SingleSession.off
    # OWASP ASVS 2.1.1: at least 12 characters; 8 is the floor that is ever acceptable.
    password_min_length: int = Field(default=12, ge=8, le=128)
    registration: Registration = Registration.closed
    # Ended and expired sessions are kept this long (for GET /admin/... and forensics), then purged.
    session_retention_seconds: int = Field(default=7 * 86400, ge=0, le=365 * 86400)
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    # The periodic purge in every instance (deletes are idempotent); 0 turns it off.
    purge_interval_seconds: int = Field(default=3600, ge=0, le=7 * 86400)

    @model_validator(mode="after")
    def _session_lifetimes_consistent(self) -> Self:
        if self.refresh_cookie_name == self.cookie_name:
            raise ValueError("AUTHSVC_REFRESH_COOKIE_NAME must differ from AUTHSVC_COOKIE_NAME")
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

    # --- issue4: downstream verification ---
    # RFC 7662 clients allowed to call POST /introspect, as `id:sha256:<hex>` (comma-separated);
    # empty means every introspection request is refused.
    introspection_clients: Annotated[
        list[str],
        NoDecode,
        BeforeValidator(_split_csv),
        AfterValidator(_check_introspection_clients),
    ] = Field(default_factory=list)
    # Shared with other features; here authsvc PUBLISHes every token-version bump on it.
    redis_url: Annotated[str | None, AfterValidator(_check_redis_url)] = None

    # --- issue7b: token-version cache ---
    # Answer the token-version check from memory, kept current by push, instead of a database
    # read per request; while the channel is down every check reads the database (fail closed).
    token_version_cache: TokenVersionCache = TokenVersionCache.off
    # Users whose version (and identity) each instance holds; the least recently used go first.
    token_version_cache_max_users: int = Field(default=100_000, ge=100, le=10_000_000)
    # A cached version is re-read after this long even with the channel up: the bound on the
    # damage of an announcement lost at the publisher (a failed Redis PUBLISH).
    token_version_cache_max_age_seconds: float = Field(default=30.0, gt=0, le=3600)

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
        if channel is TokenVersionCache.redis and self.redis_url is None:
            raise ValueError("AUTHSVC_TOKEN_VERSION_CACHE=redis needs AUTHSVC_REDIS_URL")
        return self

    # --- end issue7b ---

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("key_encryption_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            msg = "must be at least 32 characters (generate one with `openssl rand -base64 32`)"
            raise ValueError(msg)
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://auth.example.com")
        return value.rstrip("/")

    def require_key_encryption_secret(self) -> str:
        if self.key_encryption_secret is None:
            raise MissingSetting(
                "AUTHSVC_KEY_ENCRYPTION_SECRET is required: it encrypts the signing keys at rest "
                "(generate one with `openssl rand -base64 32`; `make run` writes one to .env)"
            )
        return self.key_encryption_secret.get_secret_value()

    @model_validator(mode="after")
    def _samesite_none_needs_secure(self) -> Self:
        if self.cookie_samesite is SameSite.none and self.cookie_secure is not CookieSecure.true:
            msg = (
                "AUTHSVC_COOKIE_SAMESITE=none requires AUTHSVC_COOKIE_SECURE=true "
                "(browsers drop SameSite=None cookies that are not Secure)"
            )
            raise ValueError(msg)
        return self

    # --- issue6: validators ---
    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return _split_csv(value)

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

    @field_validator("login_limit_account", "login_limit_client_account", "login_limit_client")
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_limits(value)
        return value

    def effective_allowed_origins(self) -> list[str]:
        """The configured origins, or the issuer's own origin when none is configured."""
        if self.allowed_origins:
            return list(self.allowed_origins)
        scheme, _, rest = self.issuer.partition("://")
        return [f"{scheme}://{rest.split('/')[0]}".lower()]


def describe_validation_error(error: Exception) -> str:
    """Turn a pydantic ValidationError into lines that name the environment variables."""
    from pydantic import ValidationError

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
