"""authsvc GET /session against fastapi-users' GET /users/me (cookie transport, SQLite), same run.

Usage:
    python benchmarks/peers.py [--seconds 5] [--connections 32] [--rounds 2]

fastapi-users (the newest 15.x) is installed by this script into a throw-away virtual
environment with uv, never into the project's: with the project's own FastAPI and uvicorn
versions (and uvloop/httptools only if the project has them), so that both servers differ only
in the library under test. Its app is the documented setup: a JWT strategy behind the cookie
transport and the SQLAlchemy user database on SQLite (aiosqlite), so each GET /users/me checks
the token and loads the user row. authsvc runs on a fresh SQLite database with its defaults.

Both are one uvicorn worker with the same options (benchmarks/harness.py), pinned to one core
with taskset; wrk runs on the other core. The two are measured in turn, `--rounds` times each,
and compared by their mean requests/s; any non-2xx answer fails the run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import httpx
from goals import goal_line
from harness import (
    SERVER_CORE,
    BenchmarkFailed,
    authsvc_command,
    authsvc_env,
    expect,
    free_port,
    pinned,
    server,
    uvicorn_options,
    wrk,
)

PASSWORD = "a long passphrase for load tests 0123"
TARGET = 4.0
PEER = "fastapi-users[sqlalchemy]>=15,<16"

PEER_APP = '''
"""fastapi-users' documented cookie + JWT + SQLAlchemy setup, on SQLite or PostgreSQL."""

import os
import uuid
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, CookieTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

SECRET = "peer-benchmark-secret-0123456789abcdef"
engine = create_async_engine(os.environ["PEER_DATABASE_URL"])
session_maker = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


async def get_session():
    async with session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_session)):
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db=Depends(get_user_db)):
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=SECRET, lifetime_seconds=3600)


backend = AuthenticationBackend(
    name="cookie",
    transport=CookieTransport(cookie_max_age=3600, cookie_secure=False),
    get_strategy=get_jwt_strategy,
)
users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])


@asynccontextmanager
async def lifespan(app):
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.include_router(users.get_auth_router(backend), prefix="/auth/cookie")
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/auth")
    app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/users")

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
'''


def peer_environment(workdir: Path) -> Path:
    """A throw-away venv with fastapi-users and the project's own FastAPI and uvicorn."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    venv = workdir / "peer-venv"
    # The same web stack on both sides, so that they differ only in the library under test.
    pins = [
        f"{name}=={importlib.metadata.version(name)}"
        for name in ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvloop",
                     "httptools")
        if _installed(name)
    ]  # fmt: skip
    for command in (
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         PEER, "aiosqlite", "asyncpg", *pins],
    ):  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BenchmarkFailed(f"installing the peer failed: {result.stderr}")
    (workdir / "peer_app.py").write_text(textwrap.dedent(PEER_APP))
    return venv / "bin" / "python"


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def uvicorn_command(python: str, app: str, port: int, *extra: str) -> list[str]:
    return pinned(
        SERVER_CORE,
        [python, "-m", "uvicorn", app, "--factory", "--host=127.0.0.1", f"--port={port}",
         *uvicorn_options(), *extra],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-peers-"))
    peer_python = peer_environment(workdir)
    version = subprocess.run(
        [str(peer_python), "-c", "import fastapi_users; print(fastapi_users.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip

    ours_port, peer_port = free_port(), free_port()
    env = authsvc_env(f"sqlite:///{workdir / 'authsvc.db'}", ours_port)
    authsvc_command("db", "upgrade", env=env)
    authsvc_command("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    peer_env = {**env, "PEER_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'peer.db'}"}

    ours_command = uvicorn_command(
        sys.executable, "authsvc.app:create_app_from_environment", ours_port
    )
    peer_command = uvicorn_command(
        str(peer_python), "peer_app:create_app", peer_port, f"--app-dir={workdir}"
    )
    with (
        server(ours_command, port=ours_port, env=env, ready="/readyz", log=workdir / "ours.log")
        as ours,
        server(peer_command, port=peer_port, env=peer_env, ready="/ready", log=workdir / "p.log")
        as peer,
    ):  # fmt: skip
        login = expect(
            httpx.post(
                f"{ours}/login", json={"username": "bench", "password": PASSWORD}, timeout=60
            ),
            200,
            what="authsvc login",
        )
        ours_cookie = f"authsvc_at={login.cookies['authsvc_at']}"
        expect(
            httpx.post(
                f"{peer}/auth/register", json={"email": "bench@example.com", "password": PASSWORD}
            ),
            201,
            what="fastapi-users register",
        )
        peer_login = expect(
            httpx.post(
                f"{peer}/auth/cookie/login",
                data={"username": "bench@example.com", "password": PASSWORD},
                timeout=60,
            ),
            204,
            what="fastapi-users cookie login",
        )
        peer_cookie = f"fastapiusersauth={peer_login.cookies['fastapiusersauth']}"
        targets = {
            "authsvc GET /session": (f"{ours}/session", ours_cookie),
            f"fastapi-users {version} GET /users/me": (f"{peer}/users/me", peer_cookie),
        }
        for name, (url, cookie) in targets.items():
            expect(httpx.get(url, headers={"Cookie": cookie}), 200, what=name)
            wrk(url, cookie=cookie, seconds=1, connections=args.connections)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (url, cookie) in targets.items():
                load = wrk(url, cookie=cookie, seconds=args.seconds, connections=args.connections)
                rates[name].append(load.rps)

    print(f"one uvicorn worker each on core {SERVER_CORE}: {' '.join(uvicorn_options())}")
    means = {name: sum(values) / len(values) for name, values in rates.items()}
    for name, values in rates.items():
        runs = ", ".join(f"{value:,.0f}" for value in values)
        print(f"{name:44} {means[name]:9,.0f} req/s  (runs: {runs})")
    ours_rps, peer_rps = means.values()
    print(
        goal_line("GET /session / fastapi-users GET /users/me", ours_rps / peer_rps, ">=", TARGET)
    )


if __name__ == "__main__":
    main()
