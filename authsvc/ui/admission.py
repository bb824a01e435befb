"""Admission through the password gate for a page: a busy gate is a page to render, not JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends

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
