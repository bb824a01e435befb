"""The token-version check served from the push-invalidated cache: opt-in, no read on a hit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
from sqlalchemy import Connection, Engine, event

from authsvc.config import Settings
from tests.helpers.cli import assert_refused_run, run_cli
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.fixture_types import ClientFactory
from tests.helpers.login import post_login
from tests.helpers.push import kill_cache_listeners


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AUTHSVC_TOKEN_VERSION_CACHE": "postgres"},
            "AUTHSVC_TOKEN_VERSION_CACHE=postgres needs a PostgreSQL AUTHSVC_DATABASE_URL",
        ),
        (
            {"AUTHSVC_TOKEN_VERSION_CACHE": "redis"},
            "AUTHSVC_TOKEN_VERSION_CACHE=redis needs AUTHSVC_REDIS_URL",
        ),
        ({"AUTHSVC_TOKEN_VERSION_CACHE": "memory"}, "AUTHSVC_TOKEN_VERSION_CACHE: Input should be"),
    ],
    ids=["postgres-on-sqlite", "redis-without-url", "unknown"],
)
def test_serve_refuses_a_cache_without_its_channel(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    base = {
        "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "AUTHSVC_KEY_ENCRYPTION_SECRET": "s" * 40,
    }
    result = run_cli("serve", env={**base, **env}, cwd=tmp_path)
    assert_refused_run(result, message)


@pytest.fixture
def user_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement that reads the users table, from any engine in this process and from
    the check's own async connections (`revocation/user_rows.py`)."""
    seen: list[str] = []

    def record(_conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM users" in statement:
            seen.append(statement)

    execute = psycopg.AsyncConnection.execute

    async def recorded_execute(
        connection: psycopg.AsyncConnection[Any], query: Any, *args: Any, **kwargs: Any
    ) -> Any:
        record(cast(Connection, None), None, str(query))
        return await execute(connection, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", recorded_execute)
    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


async def metric_line(client: httpx.AsyncClient, line: str) -> None:
    """Wait for a line in /metrics: the listener is a real thread on a real connection."""
    deadline = time.monotonic() + 10
    while line not in (await client.get("/metrics")).text:
        assert time.monotonic() < deadline, f"/metrics never showed {line!r}"
        await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_a_cache_hit_reads_no_row_and_a_lost_channel_reads_the_row_again(
    postgres_url: str, client_factory: ClientFactory, user_reads: list[str]
) -> None:
    add_user(postgres_url, "alice", PASSWORD)
    settings = Settings(
        _env_file=None,
        database_url=postgres_url,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        token_version_cache="postgres",
    )
    async with client_factory(settings) as client:
        await metric_line(client, "authsvc_token_version_cache_trusted 1.0")
        login = await post_login(client)
        assert login.status_code == 200
        assert (await client.get("/session")).status_code == 200  # a miss reads the version
        user_reads.clear()
        for _ in range(5):
            answer = await client.get("/session")
            assert answer.status_code == 200
            assert answer.json()["user"]["username"] == "alice"
        assert user_reads == [], "a cache hit must not read the users table"

        assert kill_cache_listeners(postgres_url) == 1
        await metric_line(client, "authsvc_token_version_cache_channel_losses_total 1.0")
        assert (await client.get("/session")).status_code == 200
        assert any("token_version" in statement for statement in user_reads)
