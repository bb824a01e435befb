"""Token-version push channels: a handler that records what it hears, and killers of the
channels' connections (only those carrying a name of ours)."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from authsvc.revocation.cache import LISTENER_NAME
from authsvc.revocation.channels.protocol import PG_CHANNEL, REDIS_CHANNEL, PushListener
from tests.helpers.database import execute
from tests.helpers.suites import redis_test_url


class Recorder:
    """A PushHandler that writes down what it hears."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.up = threading.Event()
        self._lock = threading.Lock()

    def channel_up(self) -> None:
        with self._lock:
            self.events.append("up")
        self.up.set()

    def channel_down(self) -> None:
        with self._lock:
            self.events.append("down")
        self.up.clear()

    def version_changed(self, user_id: str, version: int) -> None:
        with self._lock:
            self.events.append((user_id, version))

    def versions(self) -> list[tuple[str, int]]:
        with self._lock:
            return [event for event in self.events if isinstance(event, tuple)]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def kill_postgres_listener(database_url: str, application_name: str) -> int:
    """Terminate the listener's backend (only the one carrying our unique name)."""
    killed = execute(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name",
        name=application_name,
    )
    return len(killed)


def kill_redis_client(redis_url: str, client_name: str) -> int:
    """CLIENT KILL by id, for the connections carrying our unique name only."""
    client = redis.Redis.from_url(redis_url)
    try:
        killed = 0
        infos = client.client_list()
        assert isinstance(infos, list)  # redis-py types every answer as possibly awaitable
        for info in infos:
            if info.get("name") == client_name:
                count = client.client_kill_filter(_id=info["id"])
                assert isinstance(count, int)
                killed += count
        return killed
    finally:
        client.close()


def kill_cache_listeners(database_url: str) -> int:
    """Terminate every server cache listener's backend on this database; how many there were."""
    killed = execute(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name LIKE :name",
        name=f"{LISTENER_NAME}-%",
    )
    return len(killed)


@contextmanager
def recording(listener: PushListener) -> Iterator[Recorder]:
    """Start the listener with a Recorder, wait until it has subscribed, stop it afterwards."""
    recorder = Recorder()
    listener.start(recorder)
    try:
        assert recorder.up.wait(10), "the listener did not subscribe"
        yield recorder
    finally:
        listener.stop()


class HandAnnouncer:
    """Announces on a token-version channel as anyone who can reach it can: by hand."""

    def __init__(self, channel: str, database_url: str, redis_url: str | None = None):
        self.channel = channel
        self.database_url = database_url
        self.redis_url = redis_url

    def settings(self) -> dict[str, object]:
        """The settings of a server whose token-version cache listens on this channel."""
        if self.channel == "redis":
            return {"token_version_cache": "redis", "redis_url": self.redis_url}
        return {"token_version_cache": "postgres"}

    def announce(self, payload: str) -> None:
        if self.channel == "redis":
            client = redis.Redis.from_url(self.redis_url or "")
            try:
                client.publish(REDIS_CHANNEL, payload)
            finally:
                client.close()
        else:
            execute(
                self.database_url,
                "SELECT pg_notify(:channel, :payload)",
                channel=PG_CHANNEL,
                payload=payload,
            )

    def bump(self, user_id: str) -> None:
        """What another instance's revocation does: bump the row, then announce the new version."""
        rows = execute(
            self.database_url,
            "UPDATE users SET token_version = token_version + 1 WHERE id = :id "
            "RETURNING token_version",
            id=user_id,
        )
        self.announce(f"{user_id} {rows[0][0]}")


# Each channel, on each database it serves.
CHANNEL_CASES = ["postgres", "redis-on-sqlite", "redis-on-postgresql"]


def channel_case(request: pytest.FixtureRequest, tmp_path: Path) -> HandAnnouncer:
    """The channel and database of a CHANNEL_CASES parameter, for a module's fixture."""
    if request.param == "redis-on-sqlite":
        path = tmp_path / "authsvc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return HandAnnouncer("redis", f"sqlite:///{path}", redis_test_url())
    postgres: str = request.getfixturevalue("postgres_url")
    if request.param == "postgres":
        return HandAnnouncer("postgres", postgres)
    return HandAnnouncer("redis", postgres, redis_test_url())


async def channel_trusted(client: httpx.AsyncClient) -> None:
    """Wait until the server's token-version channel is up: only then does memory answer."""
    deadline = time.monotonic() + 10
    while "authsvc_token_version_cache_trusted 1.0" not in (await client.get("/metrics")).text:
        assert time.monotonic() < deadline, "the token-version channel never came up"
        await asyncio.sleep(0.02)
