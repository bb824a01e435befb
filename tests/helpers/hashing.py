"""Hashers for tests: one holds the only hashing slot until a test lets it go, one notes the
priority it runs at, one stops a verification midway so a test can change the account then."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx

from authsvc.passwords.hashing import Argon2Hasher, Verification

# The password that makes the hasher hold its slot until the test lets it go.
HOLD = "hold the only hashing slot"


class HoldingHasher(Argon2Hasher):
    """Cheap argon2id that blocks on the HOLD password, so the test decides when a slot frees."""

    def __init__(self) -> None:
        super().__init__(memory_cost=1024, time_cost=1)
        self.entered = threading.Event()
        self.release = threading.Event()

    def verify_dummy(self, password: str) -> None:
        if password == HOLD:
            self.entered.set()
            self.release.wait(timeout=30)
        super().verify_dummy(password)


@asynccontextmanager
async def slot_held(client: httpx.AsyncClient, hasher: HoldingHasher) -> AsyncIterator[None]:
    """A login of an unknown user holds the one hashing slot (its dummy verification) inside."""
    # Sent as an API client with a bearer header, which the CSRF check exempts, whatever
    # cookies a page test's client holds by then (the login itself reads no bearer token).
    holder = asyncio.create_task(
        client.post(
            "/login",
            json={"username": "nobody", "password": HOLD},
            headers={"Authorization": "Bearer not-a-token"},
        )
    )
    assert await asyncio.to_thread(hasher.entered.wait, 30)
    try:
        yield
    finally:
        hasher.release.set()
        # The held login ends normally: an unknown user is refused as any wrong password is.
        assert (await holder).json()["error"] == "invalid_credentials"


class PriorityRecordingHasher(Argon2Hasher):
    """Cheap argon2id that notes the nice value of the thread each verification runs on."""

    def __init__(self) -> None:
        super().__init__(memory_cost=1024, time_cost=1)
        self.niceness: list[int] = []

    def verify(self, password: str, stored_hash: str) -> Verification:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().verify(password, stored_hash)


class GatedHasher(Argon2Hasher):
    """Cheap argon2id whose next verification or hash, once armed, waits until the test opens
    the gate.

    The work is done (a verification against the hash its caller read) before the wait: the
    request then stands where a real hash spends its ~100 ms, the window a concurrent change of
    the account falls into.
    """

    def __init__(self, memory_cost: int = 1024) -> None:
        # Before the parent's own first hash (its dummy), which asks whether the gate is armed.
        self._lock = threading.Lock()
        self._armed = False
        self.entered = threading.Event()
        self.gate = threading.Event()
        super().__init__(memory_cost=memory_cost, time_cost=1)

    def arm(self) -> None:
        """Make the next verification or hash (only that one) wait for `open`."""
        with self._lock:
            self.entered.clear()
            self.gate.clear()
            self._armed = True

    def open(self) -> None:
        self.gate.set()

    def verify(self, password: str, stored_hash: str) -> Verification:
        result = super().verify(password, stored_hash)
        self._wait_if_armed()
        return result

    def hash(self, password: str) -> str:
        result = super().hash(password)
        self._wait_if_armed()
        return result

    def _wait_if_armed(self) -> None:
        with self._lock:
            armed, self._armed = self._armed, False
        if armed:
            self.entered.set()
            self.gate.wait(timeout=30)


@asynccontextmanager
async def held_inside_hashing(
    hasher: GatedHasher, request: Coroutine[Any, Any, httpx.Response]
) -> AsyncIterator[asyncio.Task[httpx.Response]]:
    """Send `request` and hold it inside its first password verification or hash, for the
    body of the block.

    On leaving, the gate opens and the request goes on; await the task for its answer.
    """
    hasher.arm()
    task = asyncio.create_task(request)
    try:
        assert await asyncio.to_thread(hasher.entered.wait, 30), "no verification or hash started"
        yield task
    finally:
        hasher.open()
