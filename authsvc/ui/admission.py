"""Admission through the password gate for a page: a busy gate is a page to render, not JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Response

from authsvc.api.deps import RuntimeDep
from authsvc.errors import PasswordWorkBusy


async def _page_password_slot(runtime: RuntimeDep) -> AsyncIterator[PasswordWorkBusy | None]:
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


def busy_message(busy: PasswordWorkBusy, action: str) -> str:
    """What a page says next to the password when no hashing slot freed in time."""
    wait = busy.headers.get("Retry-After", "1")
    return f"{action} is busy right now. Try again in {wait} s."


def as_busy(response: Response, busy: PasswordWorkBusy) -> Response:
    """The page re-rendered with the form, answered as the refusal it is: 503 and Retry-After."""
    response.status_code = busy.status
    response.headers.update(busy.headers)
    return response
