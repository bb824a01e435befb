"""The dependencies every route that hashes a password declares first: admission through the
password gate (authsvc/passwords/capacity.py), waiting on the event loop, or 503 busy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from authsvc.api.deps import ClientDep, RuntimeDep
from authsvc.api.forms import read_login_request
from authsvc.api.schemas import LoginRequest


async def _password_slot(runtime: RuntimeDep) -> AsyncIterator[None]:
    async with runtime.password_gate.admitted():
        yield


async def _login_slot(
    runtime: RuntimeDep,
    body: Annotated[LoginRequest, Depends(read_login_request)],
    client: ClientDep,
) -> AsyncIterator[None]:
    # A login the throttle refuses is answered 429 by the route before anything is hashed:
    # queued for a slot, a flood of them would take the places of the logins that may pass.
    # (Asked in the threadpool: the throttle's counters may live in Redis.)
    refused = await run_in_threadpool(
        runtime.login.throttle_refuses, client, body.username, now=runtime.clock.now()
    )
    if refused:
        yield
        return
    async with runtime.password_gate.admitted():
        yield


# For `dependencies=[PASSWORD_SLOT]`: declared on the decorator, it is solved before the
# route's own dependencies (the database session among them).
PASSWORD_SLOT = Depends(_password_slot)
# The same for POST /login, letting the logins its throttle refuses through without a slot.
LOGIN_SLOT = Depends(_login_slot)
