"""The types of conftest's factory fixtures, for the tests' annotations."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import httpx

from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.passwords.hashing import PasswordHasher
from tests.helpers.defaults import PASSWORD
from tests.helpers.processes import LiveServer


class ClientFactory(Protocol):
    """`async with client_factory(settings) as client:` an in-process client with the lifespan."""

    def __call__(
        self,
        settings: Settings,
        *,
        base_url: str = ...,
        browser: bool = ...,
        clock: Clock | None = ...,
        hasher: PasswordHasher | None = ...,
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]: ...


class MakeSettings(Protocol):
    """Settings for the test database, with the given overrides."""

    def __call__(self, **overrides: object) -> Settings: ...


class MakeUser(Protocol):
    """Create a user in the test database; its id."""

    def __call__(
        self,
        username: str = "alice",
        password: str = PASSWORD,
        roles: list[str] | None = None,
        *,
        email: str | None = None,
        email_verified: bool = False,
    ) -> str: ...


class DbQuery(Protocol):
    """The rows of a read query against the test database: SQLAlchemy rows, read by name, by
    index or unpacked, whose columns hand-written SQL gives no static type."""

    def __call__(self, sql: str, **params: object) -> list[Any]: ...


class StartServer(Protocol):
    """Start `authsvc serve` on the test database with these AUTHSVC_* settings."""

    def __call__(self, **env: str) -> LiveServer: ...
