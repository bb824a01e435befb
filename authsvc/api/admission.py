"""The dependencies every route that hashes a password declares first: admission through the
password gate (authsvc/passwords/capacity.py), waiting on the event loop, or 503 busy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated

from fastapi import Depends
from starlette.concurrency import run_in_threadpool

from authsvc.api.deps import ClientDep, RuntimeDep
from authsvc.api.forms import read_login_request
from authsvc.api.schemas import LoginRequest
from authsvc.runtime import Runtime


async def _password_slot(runtime: RuntimeDep) -> AsyncIterator[None]:
    async with runtime.password_gate.admitted():
        yield


async def _room_for_password_work(runtime: RuntimeDep) -> None:
    """Refuses at once when no slot and no place in the queue is free: before the body is read
    and the throttle asked, which a storm of refused requests would otherwise pay for each."""
    await runtime.password_gate.refuse_if_full()


# A parameter of the slots below, declared before the body: FastAPI solves them in order.
RoomForPasswordWork = Annotated[None, Depends(_room_for_password_work)]


async def _login_slot(
    runtime: RuntimeDep,
    room: RoomForPasswordWork,
    body: Annotated[LoginRequest, Depends(read_login_request)],
    client: ClientDep,
) -> AsyncIterator[None]:
    throttled = partial(
        runtime.login.throttle_refuses, client, body.username, now=runtime.clock.now()
    )
    async with slot_unless_throttled(runtime, throttled):
        yield


async def _registration_slot(
    runtime: RuntimeDep, room: RoomForPasswordWork, client: ClientDep
) -> AsyncIterator[None]:
    throttled = partial(
        runtime.accounts.registration_throttle_refuses, client, now=runtime.clock.now()
    )
    async with slot_unless_throttled(runtime, throttled):
        yield


@asynccontextmanager
async def slot_unless_throttled(
    runtime: Runtime, throttled: Callable[[], bool]
) -> AsyncIterator[bool]:
    """A hashing slot, unless the route's throttle already refuses the request (False then).

    The route answers such a request 429 before anything is hashed; queued for a slot, a flood
    of them would take the places of the requests that may pass.
    """
    if await refused_by_throttle(throttled):
        yield False
        return
    async with runtime.password_gate.admitted():
        yield True


async def refused_by_throttle(throttled: Callable[[], bool]) -> bool:
    """Asks `throttled` in the threadpool: the throttle's counters may live in Redis."""
    return await run_in_threadpool(throttled)


# For `dependencies=[PASSWORD_SLOT]`: declared on the decorator, it is solved before the
# route's own dependencies (the database session among them).
PASSWORD_SLOT = Depends(_password_slot)
# The same for POST /login and POST /register, letting the requests their throttle refuses
# through without a slot.
LOGIN_SLOT = Depends(_login_slot)
REGISTRATION_SLOT = Depends(_registration_slot)
