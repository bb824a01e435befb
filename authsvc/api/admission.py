"""The dependency every route that hashes a password declares first: admission through the
password gate (authsvc/passwords/capacity.py), waiting on the event loop, or 503 busy."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends

from authsvc.api.deps import RuntimeDep


async def _password_slot(runtime: RuntimeDep) -> AsyncIterator[None]:
    async with runtime.password_gate.admitted():
        yield


# For `dependencies=[PASSWORD_SLOT]`: declared on the decorator, it is solved before the
# route's own dependencies (the database session among them).
PASSWORD_SLOT = Depends(_password_slot)
