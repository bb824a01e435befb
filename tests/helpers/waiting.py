"""Polling for what another thread or process does (never used to let time pass)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> bool:
    """Whether the condition came true within the timeout; for tests that assert it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Wait until the condition holds; a TimeoutError naming `what` when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")


async def eventually(condition: Callable[[], Awaitable[bool]], *, timeout: float = 5.0) -> bool:
    """wait_until for an async condition (an in-process request): polled every 20 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.02)
    return await condition()
