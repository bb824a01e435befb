"""Settings of the hosted pages, observability, downstream services and maintenance."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import (
    AccessLog,
    CommaSeparated,
    LogFormat,
    LogLevel,
    TokenVersionCache,
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
