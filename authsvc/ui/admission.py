"""Admission through the password gate for a page: a busy gate is a page to render, not JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated

from fastapi import Depends, Response

from authsvc.api.admission import refused_by_throttle
from authsvc.api.deps import ClientDep, RuntimeDep
from authsvc.errors import PasswordWorkBusy
from authsvc.runtime import Runtime
from authsvc.ui.forms import read_form


async def _page_password_slot(runtime: RuntimeDep) -> AsyncIterator[PasswordWorkBusy | None]:
    async with _page_gate(runtime) as admission:
        yield admission


async def _page_login_slot(
    runtime: RuntimeDep, form: Annotated[dict[str, str], Depends(read_form)], client: ClientDep
) -> AsyncIterator[PasswordWorkBusy | None]:
    username = form.get("username", "")[:150]
    throttled = partial(runtime.login.throttle_refuses, client, username, now=runtime.clock.now())
    async with _page_slot_unless_throttled(runtime, throttled) as admission:
        yield admission


async def _page_registration_slot(
    runtime: RuntimeDep, client: ClientDep
) -> AsyncIterator[PasswordWorkBusy | None]:
    throttled = partial(
        runtime.accounts.registration_throttle_refuses, client, now=runtime.clock.now()
    )
    async with _page_slot_unless_throttled(runtime, throttled) as admission:
        yield admission


@asynccontextmanager
async def _page_slot_unless_throttled(
    runtime: Runtime, throttled: Callable[[], bool]
) -> AsyncIterator[PasswordWorkBusy | None]:
    # As for the JSON routes: with no room at all, the busy page before the throttle is asked;
    # a request its throttle refuses gets its 429 page without queueing.
    try:
        await runtime.password_gate.refuse_if_full()
    except PasswordWorkBusy as busy:
        yield busy
        return
    if await refused_by_throttle(throttled):
        yield None
        return
    async with _page_gate(runtime) as admission:
        yield admission


@asynccontextmanager
async def _page_gate(runtime: Runtime) -> AsyncIterator[PasswordWorkBusy | None]:
    try:
        await runtime.password_gate.enter()
    except PasswordWorkBusy as busy:
        yield busy
        return
    try:
        yield None
    finally:
        runtime.password_gate.leave()


# None once admitted; the refusal to show when every slot is taken. Declare it before the
# database session, so that a waiting request holds no connection.
PagePasswordSlot = Annotated[PasswordWorkBusy | None, Depends(_page_password_slot)]
# The same for the sign-in and sign-up forms, letting what their throttles refuse through
# without one.
PageLoginSlot = Annotated[PasswordWorkBusy | None, Depends(_page_login_slot)]
PageRegistrationSlot = Annotated[PasswordWorkBusy | None, Depends(_page_registration_slot)]


def busy_message(busy: PasswordWorkBusy, action: str) -> str:
    """What a page says next to the password when no hashing slot freed in time."""
    wait = busy.headers.get("Retry-After", "1")
    return f"{action} is busy right now. Try again in {wait} s."


def as_busy(response: Response, busy: PasswordWorkBusy) -> Response:
    """The page re-rendered with the form, answered as the refusal it is: 503 and Retry-After."""
    response.status_code = busy.status
    response.headers.update(busy.headers)
    return response
