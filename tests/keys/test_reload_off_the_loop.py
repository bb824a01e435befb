"""Key-ring reloads run off the event loop: single-flight, rate-limited, backing off on failure."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.keys.refresh import KeyMaintainer
from authsvc.keys.ring import KeyRing
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.runtime import Runtime
from tests.helpers.asgi import state_per_request
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeSettings
from tests.helpers.metrics import scrape, value
from tests.helpers.sessions import session_status
from tests.helpers.waiting import eventually, wait_until
from tests.keys.test_ring_reload import made_up_token

# Longer than anything these tests do: the periodic refresh never falls due in them.
REFRESH = 300
# What the test waits at most for something that happens at once when the code is right.
GENEROUS = 30


@asynccontextmanager
async def settled_instance(
    settings: Settings, clock: FakeClock, hasher: Argon2Hasher
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """An in-process instance whose key ring is loaded and caught up with its channel."""
    app: FastAPI = create_app(settings, clock=clock, hasher=hasher)
    async with LifespanManager(state_per_request(app)) as manager:
        runtime: Runtime = app.state.runtime
        assert wait_until(lambda: runtime.keys.watched, timeout=GENEROUS)
        # Read in a thread, the ring waits there for any reload the channel's start asked for.
        await asyncio.to_thread(lambda: runtime.keys.ring)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as client:
            yield client, runtime


def random_kid_token() -> str:
    return made_up_token(f"made-up-{secrets.token_hex(8)}")


@dataclass
class GatedLoad:
    """Counts the reloads of the keys; once `armed`, each blocks until `gate` opens (by itself
    after GENEROUS seconds at the latest) and then fails as a database that is down does."""

    calls: int = 0
    armed: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def keys_load(monkeypatch: pytest.MonkeyPatch) -> GatedLoad:
    gated = GatedLoad()
    original = KeyMaintainer.load

    def load(self: KeyMaintainer, previous: KeyRing) -> KeyRing:
        gated.calls += 1
        if not gated.armed.is_set():
            return original(self, previous)
        gated.entered.set()
        gated.gate.wait(GENEROUS)
        gated.gate.set()
        raise OperationalError("SELECT signing_keys", {}, ConnectionRefusedError("down"))

    monkeypatch.setattr(KeyMaintainer, "load", load)
    return gated


async def test_concurrent_unknown_kids_reload_the_ring_once_per_rate_window(
    make_settings: MakeSettings, clock: FakeClock, fast_hasher: Argon2Hasher, keys_load: GatedLoad
) -> None:
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with settled_instance(settings, clock, fast_hasher) as (client, _runtime):
        before = keys_load.calls
        counted = await reloads(client, "unknown_kid", "ok")
        clock.advance(1)
        for window in (1, 2):
            answers = await asyncio.gather(
                *(session_status(client, random_kid_token()) for _ in range(40))
            )
            assert answers == [(401, "invalid_token")] * 40
            assert keys_load.calls - before == window
            assert await reloads(client, "unknown_kid", "ok") - counted == window
            # The next window opens a quarter of a second after the last reload.
            clock.advance(0.25)
        assert await reloads(client, "unknown_kid", "failed") == 0


async def test_a_failing_reload_leaves_the_event_loop_free_and_backs_off(
    make_settings: MakeSettings, clock: FakeClock, fast_hasher: Argon2Hasher, keys_load: GatedLoad
) -> None:
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with settled_instance(settings, clock, fast_hasher) as (client, _runtime):
        before = keys_load.calls
        keys_load.armed.set()
        clock.advance(1)
        waiting = asyncio.create_task(session_status(client, random_kid_token()))
        assert await asyncio.to_thread(keys_load.entered.wait, GENEROUS)
        # The reload is held in the gate: were it on the loop, nothing else would answer until
        # the gate opened by itself.
        assert (await client.get("/healthz")).status_code == 200
        assert not keys_load.gate.is_set(), "/healthz waited for the reload"
        assert not waiting.done()
        keys_load.gate.set()
        assert await waiting == (401, "invalid_token")
        assert keys_load.calls - before == 1
        assert await reloads(client, "unknown_kid", "failed") == 1

        # Backing off: no new attempt for twice the rate window, then one.
        clock.advance(0.3)
        assert await session_status(client, random_kid_token()) == (401, "invalid_token")
        assert keys_load.calls - before == 1
        clock.advance(0.25)
        assert await session_status(client, random_kid_token()) == (401, "invalid_token")
        assert keys_load.calls - before == 2


async def test_the_scheduled_reload_is_counted_by_reason(
    make_settings: MakeSettings, clock: FakeClock, fast_hasher: Argon2Hasher, keys_load: GatedLoad
) -> None:
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with settled_instance(settings, clock, fast_hasher) as (client, runtime):
        counted = await reloads(client, "scheduled", "ok")
        clock.advance(REFRESH + 1)
        # The first use of the ring after the interval reloads it (read in a thread, it waits).
        await asyncio.to_thread(lambda: runtime.keys.ring)
        await asyncio.to_thread(lambda: runtime.keys.ring)
        assert await reloads(client, "scheduled", "ok") - counted == 1
        assert await reloads(client, "unknown_kid", "ok") == 0


async def reloads(client: httpx.AsyncClient, reason: str, outcome: str) -> float:
    page = await scrape(client)
    return value(page, "authsvc_signing_key_reloads_total", reason=reason, outcome=outcome)


async def test_the_reload_when_the_key_channel_first_comes_up_is_counted(
    make_settings: MakeSettings, clock: FakeClock, fast_hasher: Argon2Hasher
) -> None:
    """The channel's first subscription asks for a reload (whatever changed before it was up
    went unheard) while the instance is still starting: counted like any later one."""
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with settled_instance(settings, clock, fast_hasher) as (client, _):

        async def counted() -> bool:
            # The ring may be read a moment before its reload reports.
            return await reloads(client, "announced", "ok") == 1

        assert await eventually(counted, timeout=GENEROUS)
