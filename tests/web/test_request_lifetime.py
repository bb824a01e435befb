"""An answered request is freed by reference counting alone.

Anything a request leaves in a reference cycle waits for Python's cycle collector, and the
collector's full passes stop every request in flight for as long as they take (tens of
milliseconds on a running server). The calls here are plain ASGI calls, since an HTTP client
library keeps cycles of its own; each gets its own copy of the lifespan state, as under uvicorn.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import Request
from starlette.types import ASGIApp, Message

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from tests.helpers.asgi import state_per_request
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import MakeUser
from tests.helpers.login import log_in

RawHeaders = list[tuple[bytes, bytes]]


async def asgi_get(app: ASGIApp, path: str, headers: RawHeaders) -> int:
    """GET `path` straight through the ASGI interface; the answer's status."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"authsvc.test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("authsvc.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@contextmanager
def collected_cycles() -> Iterator[list[Any]]:
    """Everything the cycle collector finds unreachable while the block runs."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[Any] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def request_objects(objects: list[Any]) -> list[Any]:
    """The ASGI scopes and Starlette requests among `objects`: what a served request leaves."""
    return [
        item
        for item in objects
        if isinstance(item, Request) or (isinstance(item, dict) and item.get("type") == "http")
    ]


@pytest.mark.parametrize(
    ("path", "credentials", "status"),
    [
        ("/healthz", None, 200),
        ("/session", "cookie", 200),
        ("/verify", "cookie", 204),
        ("/session", "bearer", 200),
        ("/session", None, 401),
        ("/.well-known/jwks.json", None, 200),
    ],
)
async def test_answered_requests_leave_no_cycles(
    settings: Settings,
    make_user: MakeUser,
    clock: FakeClock,
    fast_hasher: Argon2Hasher,
    path: str,
    credentials: str | None,
    status: int,
) -> None:
    make_user()
    app = state_per_request(create_app(settings, clock=clock, hasher=fast_hasher))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as client:
            login = await log_in(client)
        headers: RawHeaders = []
        if credentials == "cookie":
            cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies.jar)
            headers.append((b"cookie", cookies.encode()))
        elif credentials == "bearer":
            headers.append((b"authorization", f"Bearer {login.cookies[ACCESS]}".encode()))
        with collected_cycles() as garbage:
            for _ in range(20):
                assert await asgi_get(manager.app, path, headers) == status
    assert request_objects(garbage) == []
