"""Hashers for tests of the hashing bound: one holds the only slot until a test lets it go, one
notes the priority it runs at."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
