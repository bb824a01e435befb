"""Admission through the password gate for a page: a busy gate is a page to render, not JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

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
    # As for POST /login: a sign-in the throttle refuses gets its 429 page without queueing.
    refused = await run_in_threadpool(
        runtime.login.throttle_refuses,
        client,
        form.get("username", "")[:150],
        now=runtime.clock.now(),
    )
    if refused:
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
# The same for the sign-in form, letting the sign-ins its throttle refuses through without one.
PageLoginSlot = Annotated[PasswordWorkBusy | None, Depends(_page_login_slot)]


def busy_message(busy: PasswordWorkBusy, action: str) -> str:
    """What a page says next to the password when no hashing slot freed in time."""
    wait = busy.headers.get("Retry-After", "1")
    return f"{action} is busy right now. Try again in {wait} s."


def as_busy(response: Response, busy: PasswordWorkBusy) -> Response:
    """The page re-rendered with the form, answered as the refusal it is: 503 and Retry-After."""
    response.status_code = busy.status
    response.headers.update(busy.headers)
    return response
