"""The check's read of a user's row when memory cannot answer, on the event loop.

A token seen for the first time, a version cache that is off, or a push channel that is down:
each check then needs the user's token version (and, for `GET /session`, who they are) and
whether the token's session has ended. One compact primary-key query answers all three,
without the threadpool hop, ORM session, pool ping, `BEGIN` and `ROLLBACK` that a session per
check costs:

* SQLite: a read-only connection of its own, as the SQLite version cache uses. In WAL mode a
  reader never waits for a writer, and the read takes tens of microseconds.
* PostgreSQL: psycopg's async mode on a few connections of its own, in autocommit (one round
  trip per read), the statement prepared once per connection.

Any failure is a 503: without an answer from the database nobody is authenticated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from sqlalchemy.engine import make_url

from authsvc.config import sqlite_file
from authsvc.errors import ServiceUnavailable
from authsvc.revocation.channels.sqlite import read_only_uri
from authsvc.storage.engine import normalise_url

logger = logging.getLogger("authsvc")

# The session's end rides along as a scalar subquery: NULL when it is alive or has no row (only
# a recorded end counts, as everywhere).
_SQLITE_QUERY = (
    "SELECT token_version, disabled, username, roles,"
    " (SELECT ended_at FROM sessions WHERE id = ?) FROM users WHERE id = ?"
)
_POSTGRES_QUERY = (
    "SELECT token_version, disabled, username, roles,"
    " (SELECT ended_at FROM sessions WHERE id = %s) FROM users WHERE id = %s"
)
# A read (connecting included) that takes longer than this is refused, like a pool checkout.
READ_TIMEOUT_SECONDS = 5.0
# Connections of the PostgreSQL reader: on top of the pool, so a handful.
MAX_POSTGRES_CONNECTIONS = 4
# Names the PostgreSQL reader's connections, so operators (and the tests) can find them.
APPLICATION_NAME = "authsvc-user-rows"


@dataclass(frozen=True, slots=True)
class UserRow:
    """What the per-call check needs of a user (whether tokens of a version may pass, and who)
    and of the token's session (whether it has ended)."""

    id: str
    username: str
    roles: tuple[str, ...]
    token_version: int
    disabled: bool
    session_ended: bool


class UserRowReader(Protocol):
    async def read(self, user_id: str, session_id: str) -> UserRow | None:
        """The user's row with the session's end, None when there is no user; ServiceUnavailable
        when nobody answers."""
        ...

    def close(self) -> None: ...


def unavailable() -> ServiceUnavailable:
    # The same answer as any other database failure of a request (see app.py).
    return ServiceUnavailable(
        "The database is unavailable; try again shortly.", headers={"Retry-After": "1"}
    )


def _row(user_id: str, values: Sequence[Any]) -> UserRow:
    token_version, disabled, username, roles, ended_at = values
    if isinstance(roles, str):
        roles = json.loads(roles)
    return UserRow(
        id=user_id,
        username=str(username),
        roles=tuple(roles or ()),
        token_version=int(token_version),
        disabled=bool(disabled),
        session_ended=ended_at is not None,
    )


class SqliteRowReader:
    """Reads on a read-only connection of its own, called from the event loop only."""

    def __init__(self, path: str):
        self._connection = sqlite3.connect(
            read_only_uri(path), uri=True, timeout=READ_TIMEOUT_SECONDS, check_same_thread=False
        )
        self._connection.isolation_level = None

    async def read(self, user_id: str, session_id: str) -> UserRow | None:
        try:
            values = self._connection.execute(_SQLITE_QUERY, (session_id, user_id)).fetchone()
        except sqlite3.Error as exc:
            logger.warning("user row read failed: %s", type(exc).__name__)
            raise unavailable() from exc
        return None if values is None else _row(user_id, values)

    def close(self) -> None:
        self._connection.close()


class PostgresRowReader:
    """Reads through psycopg's async connections, opened on first use and kept while they work."""

    def __init__(self, conninfo: str, *, max_connections: int = MAX_POSTGRES_CONNECTIONS):
        self._conninfo = conninfo
        self._max_connections = max_connections
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        # Made on first use, on the loop that serves the requests.
        self._slots: asyncio.Semaphore | None = None

    async def read(self, user_id: str, session_id: str) -> UserRow | None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS), self._slots:
                try:
                    return await self._read_once(user_id, session_id)
                except psycopg.OperationalError:
                    # An idle connection the server has closed since (a restart, a kill): one
                    # new connection tries again before the request is refused.
                    return await self._read_once(user_id, session_id)
        except (psycopg.Error, TimeoutError) as exc:
            logger.warning("user row read failed: %s", type(exc).__name__)
            raise unavailable() from exc

    async def _read_once(self, user_id: str, session_id: str) -> UserRow | None:
        connection = self._idle.pop() if self._idle else await self._connect()
        try:
            cursor = await connection.execute(_POSTGRES_QUERY, (session_id, user_id), prepare=True)
            values = await cursor.fetchone()
        except BaseException:
            # Cancelled mid-query or failed: its state is unknown, so it is not used again.
            with suppress(psycopg.Error):
                await connection.close()
            raise
        self._idle.append(connection)
        return None if values is None else _row(user_id, values)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=int(READ_TIMEOUT_SECONDS),
            application_name=APPLICATION_NAME,
            # It never writes; the server refuses if a bug ever tried to.
            options="-c default_transaction_read_only=on",
        )

    def close(self) -> None:
        # Called as the app stops; closing the libpq connection needs no event loop.
        while self._idle:
            connection = self._idle.pop()
            connection.pgconn.finish()


def user_row_reader(database_url: str) -> UserRowReader | None:
    """The reader for this database; None where the check keeps its session (in-memory SQLite)."""
    path = sqlite_file(database_url)
    if path is not None:
        return SqliteRowReader(path)
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    return PostgresRowReader(url.set(drivername="postgresql").render_as_string(hide_password=False))
