"""Fixtures: a migrated database per test (SQLite and PostgreSQL), apps built per configuration,
an injectable clock, and real uvicorn servers for what only a real server shows."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authsvc.app import create_app
from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher, PasswordHasher
from authsvc.storage.engine import make_engine
from authsvc.storage.migrations import upgrade_database
from tests.helpers import parallel
from tests.helpers.asgi import SyncClient, authsvc_test_client, state_per_request
from tests.helpers.cli import cli_env
from tests.helpers.clock import FakeClock
from tests.helpers.database import add_user, cheap_hasher, truncate_all
from tests.helpers.defaults import ISSUER, PASSWORD, TEST_SECRET
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser, StartServer
from tests.helpers.fleet import measurements
from tests.helpers.headers import behave_like_spa
from tests.helpers.mail import MailServer, mail_server
from tests.helpers.processes import LiveServer, start_server
from tests.helpers.sessions import Device
from tests.helpers.suites import (
    POSTGRES_ENV,
    POSTGRES_HINT,
    REDIS_ENV,
    SKIPPED_SUITES,
    redis_test_url,
    skip_suite,
)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true":
        for variable, suite in ((POSTGRES_ENV, "PostgreSQL"), (REDIS_ENV, "Redis")):
            if not os.environ.get(variable):
                raise pytest.UsageError(f"CI must run the {suite} suite: {variable} is not set")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """A split run keeps the tests that share Redis or the image on one worker."""
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for by name
    return parallel.SharedResourceScheduling(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    parallel.note_running(item)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of a split run hands what the summary names to the process that prints it."""
    output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["skipped_suites"] = sorted(SKIPPED_SUITES)
        output["measurements"] = list(measurements)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output: dict[str, Any] = getattr(node, "workeroutput", {})
    SKIPPED_SUITES.update(output.get("skipped_suites", ()))
    measurements.extend(output.get("measurements", ()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in sorted(SKIPPED_SUITES):
        terminalreporter.write_line(line, yellow=True)
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
    named = make_url(url)
    assert named.database, f"{POSTGRES_ENV} must name a database of its own"
    parsed = named.set(database=parallel.database_for_worker(named.database))
    url = parsed.render_as_string(hide_password=False)
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


@pytest.fixture
def postgres_url(postgres_base_url: str) -> str:
    """The migrated PostgreSQL test database, emptied: for what only PostgreSQL does."""
    truncate_all(postgres_base_url)
    return postgres_base_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "authsvc.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def mail() -> Iterator[MailServer]:
    """A real SMTP server (plain, on 127.0.0.1) that keeps what it receives."""
    with mail_server() as server:
        yield server


@pytest.fixture
def mail_settings(make_settings: MakeSettings, mail: MailServer) -> Settings:
    """Settings of a service that sends its mail to `mail`."""
    return make_settings(**mail.settings())


@pytest.fixture
def redis_url() -> str:
    """The Redis database of this run (AUTHSVC_TEST_REDIS_URL); skipped when there is none."""
    return redis_test_url()


# --- the app -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fast_hasher() -> Argon2Hasher:
    """Still argon2id, at parameters cheap enough for hundreds of logins in a test run."""
    return cheap_hasher()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(database_url: str) -> MakeSettings:
    def build(**overrides: object) -> Settings:
        # Unvalidated input: Settings validates it (and a test may expect it to refuse).
        values: dict[str, Any] = {
            "database_url": database_url,
            "key_encryption_secret": TEST_SECRET,
            "cookie_secure": "false",
            "issuer": ISSUER,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def client_factory(clock: FakeClock, fast_hasher: Argon2Hasher) -> ClientFactory:
    """`async with client_factory(settings) as client:` an in-process client with the lifespan.

    By default the client behaves like a same-origin SPA towards CSRF (see `behave_like_spa`);
    `browser=False` gives a raw client that sends only what the test tells it to.
    """
    default_clock: Clock = clock

    @asynccontextmanager
    async def open_client(
        settings: Settings,
        *,
        base_url: str = ISSUER,
        browser: bool = True,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings, clock=clock or default_clock, hasher=hasher or fast_hasher)
        async with LifespanManager(state_per_request(app)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                if browser:
                    # An SPA served from the first allowed origin (by default the issuer's).
                    behave_like_spa(client, settings, settings.effective_allowed_origins()[0])
                yield client

    return open_client


@pytest.fixture
async def client(
    client_factory: ClientFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_factory(settings) as client:
        yield client


@pytest.fixture
async def device(client: httpx.AsyncClient, make_user: MakeUser) -> Device:
    """alice, logged in on `client` as one browser that keeps its own tokens."""
    make_user()
    device = Device(client)
    await device.login()
    return device


@pytest.fixture
def authsvc(
    settings: Settings, clock: FakeClock, fast_hasher: Argon2Hasher
) -> Iterator[SyncClient]:
    """The in-process authsvc called synchronously, as the (synchronous) verifier calls it."""
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as client:
        yield client


@pytest.fixture
def make_user(database_url: str, fast_hasher: Argon2Hasher, clock: FakeClock) -> MakeUser:
    """Create a user directly in the database (setup only; behaviour is asserted over HTTP)."""

    def create(
        username: str = "alice",
        password: str = PASSWORD,
        roles: list[str] | None = None,
        *,
        email: str | None = None,
        email_verified: bool = False,
    ) -> str:
        return add_user(
            database_url,
            username,
            password,
            roles=roles or [],
            now=clock.now(),
            hasher=fast_hasher,
            email=email,
            email_verified=email_verified,
        )

    return create


@pytest.fixture
def db_query(database_url: str) -> DbQuery:
    """Run a read query against the test database and return its rows."""

    def query(sql: str, **params: object) -> list[Any]:
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params).all())
        finally:
            engine.dispose()

    return query


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start real `authsvc serve` processes; every one is stopped (by PID) after the test."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        settings = {**cli_env(database_url), "AUTHSVC_COOKIE_SECURE": "false", **env}
        server = start_server(settings, workdir=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
