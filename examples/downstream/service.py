"""A small downstream service protected by the authsvc verifier (see README.md beside it).

    DOWNSTREAM_AUTHSVC_URL=http://127.0.0.1:8000 DOWNSTREAM_VERSION_SOURCE=database \
    DOWNSTREAM_DATABASE_URL=sqlite:///./var/authsvc.db \
    python -m uvicorn --app-dir examples/downstream --factory service:create_app_from_environment \
        --port 8001
"""

# No `from __future__ import annotations`: FastAPI must see the local Annotated aliases.
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from authsvc.verify import (
    DatabaseSource,
    IntrospectionSource,
    PostgresPushListener,
    PushCachedSource,
    RedisPushListener,
    TokenVerifier,
    TokenVersionSource,
    VerifiedSession,
)

SOURCES = ("database", "introspection", "push-postgres", "push-redis")


class ConfigError(Exception):
    """The example is missing a setting it needs."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        source = env.get("DOWNSTREAM_VERSION_SOURCE", "database")
        raise ConfigError(f"{name} is required for DOWNSTREAM_VERSION_SOURCE={source}")
    return value


def version_source(env: Mapping[str, str], issuer: str) -> TokenVersionSource:
    """database | introspection | push-postgres | push-redis (push over the database source)."""
    kind = env.get("DOWNSTREAM_VERSION_SOURCE", "database")
    if kind not in SOURCES:
        raise ConfigError(f"DOWNSTREAM_VERSION_SOURCE must be one of {', '.join(SOURCES)}")
    if kind == "introspection":
        return IntrospectionSource(
            env.get("DOWNSTREAM_INTROSPECTION_URL", f"{issuer}/introspect"),
            _require(env, "DOWNSTREAM_INTROSPECTION_CLIENT_ID"),
            _require(env, "DOWNSTREAM_INTROSPECTION_CLIENT_SECRET"),
        )
    database = DatabaseSource(_require(env, "DOWNSTREAM_DATABASE_URL"))
    if kind == "database":
        return database
    if kind == "push-postgres":
        listener: Any = PostgresPushListener(_require(env, "DOWNSTREAM_DATABASE_URL"))
    else:
        listener = RedisPushListener(_require(env, "DOWNSTREAM_REDIS_URL"))
    return PushCachedSource(database, listener)


def create_app(env: Mapping[str, str]) -> FastAPI:
    issuer = env.get("DOWNSTREAM_AUTHSVC_URL", "http://127.0.0.1:8000").rstrip("/")
    verifier = TokenVerifier(
        issuer,
        versions=version_source(env, issuer),
        audience=env.get("DOWNSTREAM_AUDIENCE", "authsvc"),
        jwks_url=env.get("DOWNSTREAM_JWKS_URL") or None,
        cookie_name=env.get("DOWNSTREAM_COOKIE_NAME", "authsvc_at"),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            verifier.close()

    app = FastAPI(title="downstream example", lifespan=lifespan)
    verifier.install(app)
    Session = Annotated[VerifiedSession, Depends(verifier.session)]
    Admin = Annotated[VerifiedSession, Depends(verifier.require_roles("admin"))]

    @app.get("/hello")
    def hello(session: Session) -> dict[str, Any]:
        return {
            "user_id": session.user_id,
            "roles": list(session.roles),
            "session_id": session.session_id,
        }

    @app.get("/admin")
    def admin(session: Admin) -> dict[str, str]:
        return {"admin": session.user_id}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        """What the verifier did; `source_reads` counts database/introspection round trips."""
        versions = verifier.versions
        underlying = versions.source if isinstance(versions, PushCachedSource) else versions
        return {
            "verified": verifier.stats.verified,
            "cache_hits": verifier.stats.cache_hits,
            "refused": verifier.stats.refused,
            "source_reads": getattr(underlying, "reads", None),
            "push_trusted": getattr(versions, "trusted", None),
        }

    return app


def create_app_from_environment() -> FastAPI:
    return create_app(os.environ)
