"""The settings by concept: one class per group, each field described for the operator."""

from __future__ import annotations

import ipaddress
import re
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authsvc.config.values import (
    AccessLog,
    CommaSeparated,
    CookieSecure,
    LogFormat,
    LogLevel,
    Registration,
    SameSite,
    SigningAlgorithm,
    SingleSession,
    TokenVersionCache,
)
from authsvc.errors import MissingSetting
from authsvc.mail.address import parse_sender
from authsvc.mail.smtp import SmtpRelay
from authsvc.throttle.syntax import parse_limits

# Covers clock skew between instances and downstream services in the key rotation timeline.
KEY_TIMING_MARGIN_SECONDS = 60

_COOKIE_NAME = r"^[A-Za-z0-9_\-]{1,64}$"
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class SettingsGroup(BaseSettings):
    """Where every group reads from: AUTHSVC_* variables, then `.env`; frozen once validated."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHSVC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )


class ServerSettings(SettingsGroup):
    """Where `authsvc serve` listens, what it accepts, and which proxies it believes."""

    model_config = SettingsConfigDict(title="HTTP server")

    host: str = Field(default="127.0.0.1", description="Address `authsvc serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `authsvc serve` listens on.")
    trusted_proxies: CommaSeparated[str] = Field(
        default_factory=list,
        description=(
            "Comma-separated addresses or networks (`10.0.0.0/8`) of your load balancers, as the "
            "service sees their connections. Only their `X-Forwarded-For` and "
            "`X-Forwarded-Proto` are believed; without them every client behind a proxy shares "
            "the proxy's address for throttling."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.7 or 10.0.0.0/8)"
                ) from None
        return value

    max_body_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Larger request bodies are refused with 413 before they are parsed.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Worker processes of `authsvc serve`, each with its own connections and caches; "
            "with more than one, `GET /metrics` reports the sum of all of them (Prometheus "
            "multiprocess mode, in PROMETHEUS_MULTIPROC_DIR or a temporary directory)."
        ),
    )
    shutdown_grace_seconds: int = Field(
        default=20,
        ge=1,
        le=600,
        description=(
            "How long SIGTERM waits for in-flight requests before closing their connections; "
            "give your orchestrator's stop timeout a few seconds more."
        ),
    )


class DatabaseSettings(SettingsGroup):
    """The database that holds users, sessions, signing keys and the audit trail."""

    model_config = SettingsConfigDict(title="Database")

    database_url: str = Field(
        default="sqlite:///./var/authsvc.db",
        description=(
            "SQLAlchemy URL of the database; `postgresql://…` connects with psycopg 3. "
            "Every instance of a fleet uses the same database."
        ),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=200, description="Connections each process keeps (PostgreSQL)."
    )
    listen_database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL the push listeners (the token-version cache, key changes) connect "
            "to, when AUTHSVC_DATABASE_URL goes through a pooler: LISTEN needs a session of its "
            "own, which a transaction-pooling PgBouncer does not keep, so point this at the "
            "database directly (or at a session-pooling port). Unset: AUTHSVC_DATABASE_URL."
        ),
    )

    @field_validator("listen_database_url")
    @classmethod
    def _listen_url_is_postgres(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres:")):
            raise ValueError("must be a PostgreSQL URL (postgresql://...)")
        return value


class SigningKeySettings(SettingsGroup):
    """The keys that sign access tokens, how they are published and how they rotate."""

    model_config = SettingsConfigDict(title="Signing keys and rotation")

    # Optional here because only the commands that touch signing keys need it; they call
    # require_key_encryption_secret(), which explains what to do when it is missing.
    key_encryption_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Encrypts the signing keys stored in the database; at least 32 characters "
            "(`openssl rand -base64 32`). Required by `authsvc serve` and `authsvc keys …` "
            "unless AUTHSVC_JWT_SECRETS is set. Keep it with the database: without it the keys "
            "cannot be read."
        ),
    )

    @field_validator("key_encryption_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            msg = "must be at least 32 characters (generate one with `openssl rand -base64 32`)"
            raise ValueError(msg)
        return value

    signing_algorithm: SigningAlgorithm = Field(
        default=SigningAlgorithm.ES256,
        description="Algorithm of newly created signing keys; existing keys keep theirs.",
    )
    create_key_if_missing: bool = Field(
        default=True,
        description="Create an active signing key at start-up when the database has none.",
    )
    jwks_max_age_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description=(
            "`Cache-Control: max-age` of the JWKS: how long downstream services may cache the "
            "public keys."
        ),
    )
    key_refresh_seconds: int = Field(
        default=10,
        ge=1,
        le=300,
        description=(
            "How often every instance reloads its key ring from the database and makes due key "
            "changes: the bound on how long a rotation or a revocation made anywhere takes to "
            "reach every instance."
        ),
    )
    key_publish_ahead_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        description=(
            "How long a new key is published in the JWKS before it signs; unset means "
            "AUTHSVC_JWKS_MAX_AGE_SECONDS + AUTHSVC_KEY_REFRESH_SECONDS + 60. Less than "
            "max-age + refresh is refused: downstream caches would not know a new key when it "
            "starts signing."
        ),
    )
    key_rotation_days: int = Field(
        default=0,
        ge=0,
        le=3650,
        description=(
            "Rotate automatically when the active key is older than this many days; 0 rotates "
            "only by hand (`authsvc keys rotate`)."
        ),
    )
    jwt_secrets: CommaSeparated[SecretStr] = Field(
        default_factory=list,
        description=(
            "HS256 mode instead of key pairs: comma-separated shared secrets, each at least "
            "32 bytes and all different. The first signs, all of them verify; "
            "AUTHSVC_KEY_ENCRYPTION_SECRET is then not needed."
        ),
    )

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

    def require_key_encryption_secret(self) -> str:
        if self.key_encryption_secret is None:
            raise MissingSetting(
                "AUTHSVC_KEY_ENCRYPTION_SECRET is required: it encrypts the signing keys at rest "
                "(generate one with `openssl rand -base64 32`; `make run` writes one to .env)"
            )
        return self.key_encryption_secret.get_secret_value()


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


class LoginThrottleSettings(SettingsGroup):
    """How many password guesses and sign-ups are allowed, per account and per client address."""

    model_config = SettingsConfigDict(title="Throttling: password guesses and sign-ups")

    login_throttle_enabled: bool = Field(
        default=True,
        description=(
            "Throttle every endpoint that checks a password (`POST /login`, `POST /password`) "
            "and `POST /register`. The counters live in Redis when AUTHSVC_REDIS_URL is set, so "
            "every instance sees them; otherwise each process counts alone, in memory. An IPv6 "
            "client is counted by its /64."
        ),
    )
    login_limit_account: str = Field(
        default="100/hour",
        description=(
            "Wrong passwords allowed per account (at login and at `POST /password` together) "
            "from addresses that never logged in to it (`limits` syntax: "
            "`N/second|minute|hour|day`, several joined with `;`)."
        ),
    )
    login_limit_client_account: str = Field(
        default="5/minute;20/hour",
        description=(
            "Wrong passwords allowed per account from one client address: a growing delay for "
            "that address, not a lockout of the account."
        ),
    )
    login_limit_client: str = Field(
        default="100/hour",
        description=(
            "Wrong passwords allowed from one client address across all accounts (credential "
            "stuffing)."
        ),
    )
    register_limit_client: str = Field(
        default="20/hour;100/day",
        description=(
            'Sign-up attempts that reach the username check (an account created, or "username '
            'taken") allowed from one client address, so that `POST /register` is no free '
            "oracle of which usernames exist."
        ),
    )

    @field_validator(
        "login_limit_account",
        "login_limit_client_account",
        "login_limit_client",
        "register_limit_client",
    )
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_limits(value)
        return value

    login_known_client_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description=(
            "How long an address that proved an account's password escapes that account's "
            "AUTHSVC_LOGIN_LIMIT_ACCOUNT, so an attacker spread over many addresses cannot lock "
            "the owner out."
        ),
    )


class AccountSettings(SettingsGroup):
    """Who may create an account, and what a password must be."""

    model_config = SettingsConfigDict(title="Accounts: passwords, registration")

    # OWASP ASVS 2.1.1: at least 12 characters; 8 is the floor that is ever acceptable.
    password_min_length: int = Field(
        default=12,
        ge=8,
        le=128,
        description=(
            "Fewest characters a new password may have; common passwords are refused whatever "
            "their length."
        ),
    )
    registration: Registration = Field(
        default=Registration.closed,
        description=(
            "`open` lets anyone create an account with `POST /register`; `closed` leaves it to "
            "`authsvc users create`."
        ),
    )
    require_verified_email: bool = Field(
        default=False,
        description=(
            "Refuse the login of an account whose email address is not verified (403 "
            "`email_not_verified`; the right password also sends a new confirmation link). "
            "Needs AUTHSVC_SMTP_URL. Accounts without an address cannot log in either until an "
            "operator gives them a verified one (`authsvc users email NAME --set ADDRESS "
            "--verified`)."
        ),
    )


class PasswordHashingSettings(SettingsGroup):
    """How much password hashing (argon2id) may run at once, so it cannot starve token checks."""

    model_config = SettingsConfigDict(title="Password hashing: concurrency")

    password_hashing_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Password hashes and verifications that run at once (login, registration, password "
            "change and reset, `PATCH /account`, the operator's set-password); each takes a "
            "core and 19 MiB for tens of milliseconds; per worker process. Unset: the cores the "
            "process may use divided by AUTHSVC_WORKERS (at least 1), so a burst of logins "
            "leaves the token checks their share of the CPU."
        ),
    )
    password_hashing_queue: int = Field(
        default=16,
        ge=0,
        le=1024,
        description=(
            "Requests that may wait for a hashing slot when all are busy; each holds a "
            "threadpool thread (40 in all) while it waits. Beyond them a request is answered "
            "503 `password_work_busy` with `Retry-After` at once."
        ),
    )
    password_hashing_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description=(
            "Longest wait for a hashing slot; then 503 `password_work_busy` with "
            "`Retry-After`, never a timeout. 0 refuses at once when every slot is busy."
        ),
    )
    password_hashing_niceness: int = Field(
        default=19,
        ge=0,
        le=19,
        description=(
            "CPU priority of the threads that hash passwords, as a Unix nice value added to "
            "the process's (Linux; ignored elsewhere). 19, the lowest priority, lets a token "
            "check take the core from a running hash at once, so a login storm leaves the "
            "check's latency close to its idle value and logins take the time left over; 0 "
            "hashes at the priority of the requests."
        ),
    )


class MailSettings(SettingsGroup):
    """Mail over SMTP: password-reset and address-confirmation links, and how often they go out."""

    model_config = SettingsConfigDict(title="Mail: SMTP, password reset, email verification")

    smtp_url: SecretStr | None = Field(
        default=None,
        description=(
            "The relay that sends mail: `smtp://[user:password@]host[:587]` (STARTTLS, "
            "required), `smtps://[user:password@]host[:465]` (TLS from the start) or "
            "`smtp+plain://host[:25]` (no encryption and so no credentials: a relay on this host "
            "or a trusted network). Percent-encode `@`, `:` and `/` in the user and password. "
            "Unset: no mail, and `/password/forgot`, `/password/reset`, `/email/verify` and "
            "`/email/verify/request` answer 404."
        ),
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            SmtpRelay.from_url(value.get_secret_value())
        return value

    smtp_ca_file: str | None = Field(
        default=None,
        description=(
            "PEM file of the certificate authorities to trust for the relay's certificate, "
            "instead of the system's."
        ),
    )
    smtp_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long one connection to the relay may take to answer.",
    )
    mail_from: str | None = Field(
        default=None,
        description=(
            "The sender of every mail, `noreply@example.com` or `Example <noreply@example.com>`; "
            "required with AUTHSVC_SMTP_URL."
        ),
    )

    @field_validator("mail_from")
    @classmethod
    def _sender_valid(cls, value: str | None) -> str | None:
        return None if value is None else parse_sender(value)

    public_url: str | None = Field(
        default=None,
        description=(
            "The base of the links in mails, which open `/ui/reset?token=…` and "
            "`/ui/verify-email?token=…` under it; unset: AUTHSVC_ISSUER. Point it at your own "
            "app when it serves those pages itself."
        ),
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://auth.example.com")
        if parts.query or parts.fragment:
            raise ValueError("takes no query or fragment: the links add their own")
        return value.rstrip("/")

    password_reset_ttl_seconds: int = Field(
        default=30 * 60,
        ge=60,
        le=24 * 3600,
        description="How long a password-reset link works (it works once).",
    )
    email_verification_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=300,
        le=30 * 86400,
        description="How long a link that confirms an email address works (it works once).",
    )
    mail_limit_account: str = Field(
        default="5/hour;20/day",
        description=(
            "Password-reset requests allowed per account (as named in the request) from all "
            "addresses, and confirmation links per signed-in account (`limits` syntax); more "
            "are answered 429 and send nothing."
        ),
    )
    mail_limit_client_account: str = Field(
        default="3/hour",
        description="The same, per account from one client address.",
    )
    mail_limit_client: str = Field(
        default="30/hour",
        description="Mail requests allowed from one client address across all accounts.",
    )

    @field_validator("mail_limit_account", "mail_limit_client_account", "mail_limit_client")
    @classmethod
    def _mail_limits_parse(cls, value: str) -> str:
        parse_limits(value)
        return value

    mail_send_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description=(
            "Tries to hand a mail to the relay before it is given up (and logged as an error); "
            "a permanent refusal (5xx) is not tried again."
        ),
    )
    mail_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Wait before the first retry; each further one waits twice as long.",
    )

    @property
    def mail_enabled(self) -> bool:
        return self.smtp_url is not None

    def smtp_relay(self, local_hostname: str | None = None) -> SmtpRelay:
        if self.smtp_url is None:
            raise MissingSetting("AUTHSVC_SMTP_URL is not set")
        return SmtpRelay.from_url(
            self.smtp_url.get_secret_value(),
            timeout=self.smtp_timeout_seconds,
            ca_file=self.smtp_ca_file,
            local_hostname=local_hostname,
        )


class HostedPagesSettings(SettingsGroup):
    """The sign-in and account pages authsvc serves itself, and its browser client."""

    model_config = SettingsConfigDict(title="Hosted pages")

    ui: bool = Field(
        default=True,
        description=(
            "Serve the hosted pages (`/ui/login`, `/ui/account`, `/ui/register` when "
            "registration is open, `/ui/forgot`, `/ui/reset` and `/ui/verify-email` when "
            "AUTHSVC_SMTP_URL is set) and the browser client `/ui/authsvc.js`; `false` leaves "
            "only the JSON API."
        ),
    )


class ObservabilitySettings(SettingsGroup):
    """What the service writes to its logs and what it tells Prometheus."""

    model_config = SettingsConfigDict(title="Observability: logs, metrics")

    log_level: LogLevel = Field(
        default="info", description="Least severe level that is logged (any letter case)."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    log_format: LogFormat = Field(
        default=LogFormat.json,
        description=(
            "`json`: one JSON object per line on stderr, with the request id; `text`: for "
            "reading by eye."
        ),
    )
    access_log: AccessLog = Field(
        default=AccessLog.errors,
        description=(
            "Which requests get an access-log line (`authsvc.access`, at INFO, with method, "
            "route, status, duration, error code and request id): `all`, `errors` (refused or "
            "failed, status 400 and above) or `off`. Every request is counted in the metrics "
            "either way; a line per request costs about a tenth of a cheap request's time."
        ),
    )
    metrics_enabled: bool = Field(
        default=True,
        description=(
            "Serve Prometheus metrics at `GET /metrics` on the service port (404 when false); "
            "keep that path off the public listener."
        ),
    )


class DownstreamSettings(SettingsGroup):
    """What other services use: token introspection, and the push that revokes tokens at once."""

    model_config = SettingsConfigDict(title="Downstream: introspection, Redis, token-version cache")

    introspection_clients: CommaSeparated[str] = Field(
        default_factory=list,
        description=(
            "Clients allowed to call `POST /introspect` (RFC 7662), comma-separated "
            "`id:sha256:<hex SHA-256 of the secret>` (`authsvc introspection-client new ID` "
            "prints one); unset refuses every introspection request."
        ),
    )

    @field_validator("introspection_clients")
    @classmethod
    def _clients_well_formed(cls, entries: list[str]) -> list[str]:
        seen: set[str] = set()
        for entry in entries:
            client_id, _, rest = entry.partition(":")
            scheme, _, digest = rest.partition(":")
            if not re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", client_id):
                raise ValueError(
                    f"client id {client_id!r} must be 1-64 letters, digits, '.', '_', '-'"
                )
            if scheme != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(
                    f"client {client_id!r}: give `id:sha256:<64 hex digits>` "
                    "(`authsvc introspection-client new ID` prints one), never the plain secret"
                )
            if client_id in seen:
                raise ValueError(f"client id {client_id!r} is listed twice")
            seen.add(client_id)
        return entries

    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis shared by the instances (`redis://`, `rediss://` or `unix://`): it holds the "
            "login-throttling counters, and every token-version bump is published on it for "
            "downstream verifiers. Set it when running more than one instance."
        ),
    )

    redis_publish_retry_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description=(
            "How long a command, or a server that is stopping, keeps trying to publish on "
            "Redis what it still owes (a token-version or key announcement that failed) before "
            "it gives up: the command then exits 1, the server logs an error naming the users."
        ),
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    token_version_cache: TokenVersionCache = Field(
        default=TokenVersionCache.auto,
        description=(
            "Answer the per-request token-version check from memory instead of reading the "
            "user's row. `sqlite`: remembered until anything commits to the SQLite file (any "
            "process), so a revocation is refused on the very next request. `postgres`: kept "
            "current by LISTEN/NOTIFY; the instance that revokes applies it before answering, "
            "other instances within the push delay; a change made by hand in SQL, bypassing "
            "authsvc, is seen after AUTHSVC_TOKEN_VERSION_CACHE_MAX_AGE_SECONDS. `redis`: the "
            "same over pub/sub on AUTHSVC_REDIS_URL. `auto` (default): `sqlite` on a SQLite "
            "file, `postgres` on PostgreSQL. `off`: the row on every request. While a push "
            "channel is down every check reads the database."
        ),
    )
    token_version_cache_max_users: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description=(
            "Users whose token version each process holds in that cache; the least recently "
            "used go first."
        ),
    )
    channel_deaf_after_seconds: float = Field(
        default=4.0,
        ge=1.0,
        le=60.0,
        description=(
            "Every push channel (PostgreSQL LISTEN, Redis SUBSCRIBE) sends itself a probe four "
            "times in this interval; one that has not heard a probe of its own for this long "
            "is deaf and untrusted (every check reads the database) within 0.2 s more, and "
            "counted in `authsvc_push_channel_deaf_total`."
        ),
    )
    token_version_cache_max_age_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "A cached version is re-read after this long even with the channel up: the bound "
            "on the damage of an announcement lost at the publisher."
        ),
    )


class MaintenanceSettings(SettingsGroup):
    """How long ended sessions and audit events are kept, and how often they are purged."""

    model_config = SettingsConfigDict(title="Maintenance: purge and retention")

    session_retention_seconds: int = Field(
        default=7 * 86400,
        ge=0,
        le=365 * 86400,
        description=(
            "Ended and expired sessions are kept this long (for the admin API and forensics), "
            "then purged; never before their access tokens have expired, since an ended "
            "session's row refuses them."
        ),
    )
    audit_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Audit events are kept this long, then purged."
    )
    purge_interval_seconds: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description=(
            "How often each instance purges what its retention has passed (the deletes are "
            "idempotent); 0 turns the periodic purge off, leaving `authsvc sessions purge`."
        ),
    )
