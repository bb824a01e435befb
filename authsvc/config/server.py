"""Settings of the HTTP server and the database."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import (
    CommaSeparated,
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
    database_wait_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description=(
            "How long `authsvc serve` waits at start-up for a database it cannot use yet "
            "(unreachable, or not migrated: the migrations Job or Compose service still "
            "running), trying again every 2 s and saying so in the log, before it gives up. "
            "0: it gives up at once, with the reason."
        ),
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
