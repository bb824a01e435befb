"""The app `db_access.py` measures, served by uvicorn in a subprocess of its own: `/healthz` as
the baseline, and the hot-path read of `users` by primary key as a threadpool `def` endpoint on
a sync engine (`/sync/{db}/{id}`) and as an `async def` endpoint on an async engine
(`/async/{db}/{id}`), for SQLite and, when given, PostgreSQL."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from db_access_data import EXPECTED_TOKEN_VERSION, users
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker


def _hot_statement(user_id: int) -> Any:
    return select(users.c.token_version, users.c.disabled).where(users.c.id == user_id)


def _verdict(row: Any) -> dict[str, bool]:
    if row is None:
        return {"valid": False}
    return {"valid": row.token_version == EXPECTED_TOKEN_VERSION and not row.disabled}


def build_app(
    sqlite_path: str, postgres_url: str | None, pool_size: int, max_overflow: int, pre_ping: bool
) -> Any:
    from fastapi import FastAPI, HTTPException

    pool_args: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_pre_ping": pre_ping,
    }
    sync_engines: dict[str, Engine] = {
        "sqlite": create_engine(f"sqlite:///{sqlite_path}", **pool_args)
    }
    async_engines: dict[str, AsyncEngine] = {
        "sqlite": create_async_engine(f"sqlite+aiosqlite:///{sqlite_path}", **pool_args)
    }
    if postgres_url is not None:
        sync_engines["pg"] = create_engine(postgres_url, **pool_args)
        async_engines["pg"] = create_async_engine(postgres_url, **pool_args)
    # A request-scoped ORM Session is what the service's dependencies hand out, so its
    # begin/rollback overhead belongs in the measurement, not just a bare connection.
    sync_makers = {k: sessionmaker(e, expire_on_commit=False) for k, e in sync_engines.items()}
    async_makers = {
        k: async_sessionmaker(e, expire_on_commit=False) for k, e in async_engines.items()
    }

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for engine in sync_engines.values():
            engine.dispose()
        for aengine in async_engines.values():
            await aengine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sync/{db}/{user_id}")
    def sync_read(db: str, user_id: int) -> dict[str, bool]:
        maker = sync_makers.get(db)
        if maker is None:
            raise HTTPException(404)
        with maker() as session:
            row = session.execute(_hot_statement(user_id)).one_or_none()
        return _verdict(row)

    @app.get("/async/{db}/{user_id}")
    async def async_read(db: str, user_id: int) -> dict[str, bool]:
        maker = async_makers.get(db)
        if maker is None:
            raise HTTPException(404)
        async with maker() as session:
            row = (await session.execute(_hot_statement(user_id))).one_or_none()
        return _verdict(row)

    return app


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    app = build_app(
        args.sqlite_path, args.postgres_url, args.pool_size, args.max_overflow, args.pre_ping
    )
    # One worker on purpose: the question is per-process efficiency, and two cores are shared
    # with the load generator and PostgreSQL.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
