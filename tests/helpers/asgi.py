"""An ASGI app with its lifespan, called synchronously: the verifier SDK is synchronous, so the
in-process app runs on an event loop in a thread of its own behind a small synchronous client.

    with sync_asgi_client(create_app(settings, clock=clock), settings.issuer) as authsvc:
        authsvc.get("/session")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Receive, Scope, Send

from authsvc.app import create_app
from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.passwords.hashing import PasswordHasher

T = TypeVar("T")


def state_per_request(app: ASGIApp) -> ASGIApp:
    """`app` given a copy of the lifespan state per request, as uvicorn gives it.

    asgi-lifespan hands every request the one shared state dict, so what a request leaves in
    `request.state` would reach the next request, and a reference from that state back to the
    request would never form the cycle it forms under a real server.
    """

    async def with_own_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "state" in scope:
            scope = {**scope, "state": dict(scope["state"])}
        await app(scope, receive, send)

    return with_own_state


class SyncClient:
    """Synchronous calls into an ASGI app served on another thread's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient):
        self._loop = loop
        self._client = client
        self.base_url = client.base_url
        self.cookies = client.cookies

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@contextmanager
def sync_asgi_client(app: ASGIApp, base_url: str) -> Iterator[SyncClient]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="asgi-app", daemon=True)
    thread.start()
    ready: asyncio.Future[SyncClient] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with LifespanManager(state_per_request(app)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                ready.set_result(SyncClient(loop, client))
                await stop.wait()

    served = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        client = asyncio.run_coroutine_threadsafe(_wait(ready, served), loop).result(timeout=60)
        yield client
    finally:
        loop.call_soon_threadsafe(stop.set)
        served.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _wait(ready: asyncio.Future[T], served: concurrent.futures.Future[None]) -> T:
    while not ready.done():
        if served.done():
            served.result()  # raise what the app's start-up raised
        await asyncio.sleep(0.005)
    return ready.result()


@contextmanager
def authsvc_test_client(
    settings: Settings, *, clock: Clock, hasher: PasswordHasher
) -> Iterator[SyncClient]:
    """An in-process authsvc with its lifespan, reachable synchronously (the verifier is sync)."""
    with sync_asgi_client(create_app(settings, clock=clock, hasher=hasher), settings.issuer) as c:
        yield c
