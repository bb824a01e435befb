"""Fixtures: a migrated database per test (SQLite and PostgreSQL), apps built per configuration,
an injectable clock, and real uvicorn servers for what only a real server shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.services.users import create_user
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.storage.migrations import upgrade_database
from tests.helpers.support import SKIPPED_SUITES, FakeClock, LiveServer, skip_suite, start_server

POSTGRES_ENV = "AUTHSVC_TEST_POSTGRES_URL"
POSTGRES_HINT = (
    f"PostgreSQL suite skipped: set {POSTGRES_ENV}="
    "postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_test "
    "(make test sets it when a server answers on 127.0.0.1:5432)"
)
TEST_SECRET = "test-key-encryption-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and not os.environ.get(POSTGRES_ENV):
        raise pytest.UsageError(f"CI must run the PostgreSQL suite: {POSTGRES_ENV} is not set")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in sorted(SKIPPED_SUITES):
        terminalreporter.write_line(line, yellow=True)
    from tests.fleet.harness import measurements

    for line in measurements:
        terminalreporter.write_line(f"fleet: {line}")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AUTHSVC_* variable or .env of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AUTHSVC_") and not name.startswith("AUTHSVC_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test gets a copy, so migrations run for real but cost little."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        skip_suite(POSTGRES_HINT)
    parsed = make_url(url)
    assert parsed.database, f"{POSTGRES_ENV} must name a database of its own"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).first()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    # Start from an empty schema of the test database itself (and nothing else), then migrate.
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "authsvc.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_base_url")
    _truncate_all(url)
    return url


# --- the app -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fast_hasher() -> Argon2Hasher:
    """Still argon2id, at parameters cheap enough for hundreds of logins in a test run."""
    return Argon2Hasher(memory_cost=1024, time_cost=1, parallelism=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "key_encryption_secret": TEST_SECRET,
            "cookie_secure": "false",
            "issuer": "http://authsvc.test",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


ClientFactory = Callable[..., Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def behave_like_spa(client: httpx.AsyncClient, settings: Settings, origin: str) -> None:
    """Once the client holds the CSRF cookie, send Origin and echo the token, as an SPA does."""

    async def add_csrf_headers(request: httpx.Request) -> None:
        if request.method not in UNSAFE_METHODS:
            return
        csrf = next(
            (
                cookie
                for cookie in client.cookies.jar
                if cookie.name.removeprefix("__Host-") == settings.csrf_cookie_name
            ),
            None,
        )
        if csrf is None or csrf.value is None:
            return
        request.headers.setdefault("origin", origin)
        request.headers.setdefault(settings.csrf_header_name, csrf.value)
        # A test presenting chosen cookies by hand replaces the jar's; a browser would still
        # send its CSRF cookie along with them.
        sent = request.headers.get("cookie")
        if sent is not None and f"{csrf.name}=" not in sent:
            request.headers["cookie"] = f"{sent}; {csrf.name}={csrf.value}"

    client.event_hooks["request"].append(add_csrf_headers)


@pytest.fixture
def client_factory(clock: FakeClock, fast_hasher: Argon2Hasher) -> Callable[..., Any]:
    """`async with client_factory(settings) as client:` an in-process client with the lifespan.

    By default the client behaves like a same-origin SPA towards CSRF (see `behave_like_spa`);
    `browser=False` gives a raw client that sends only what the test tells it to.
    """

    @asynccontextmanager
    async def open_client(
        settings: Settings,
        *,
        base_url: str = "http://authsvc.test",
        browser: bool = True,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            settings, clock=kwargs.pop("clock", clock), hasher=kwargs.pop("hasher", fast_hasher)
        )
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                if browser:
                    # An SPA served from the first allowed origin (by default the issuer's).
                    behave_like_spa(client, settings, settings.effective_allowed_origins()[0])
                yield client

    return open_client


@pytest.fixture
async def client(
    client_factory: Callable[..., Any], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_factory(settings) as client:
        yield client


@pytest.fixture
def make_user(database_url: str, fast_hasher: Argon2Hasher, clock: FakeClock) -> Callable[..., str]:
    """Create a user directly in the database (setup only; behaviour is asserted over HTTP)."""

    def create(
        username: str = "alice", password: str = PASSWORD, roles: list[str] | None = None
    ) -> str:
        engine = make_engine(database_url)
        try:
            with make_session_factory(engine)() as db:
                user = create_user(
                    db,
                    fast_hasher,
                    username=username,
                    password=password,
                    roles=roles or [],
                    now=clock.now(),
                )
                db.commit()
                return user.id
        finally:
            engine.dispose()

    return create


@pytest.fixture
def db_query(database_url: str) -> Callable[..., list[Any]]:
    """Run a read query against the test database and return its rows."""

    def query(sql: str, **params: Any) -> list[Any]:
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params).all())
        finally:
            engine.dispose()

    return query


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real `authsvc serve` processes; every one is stopped (by PID) after the test."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = start_server(
            {
                "AUTHSVC_DATABASE_URL": database_url,
                "AUTHSVC_KEY_ENCRYPTION_SECRET": TEST_SECRET,
                "AUTHSVC_COOKIE_SECURE": "false",
                **env,
            },
            workdir=tmp_path,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
