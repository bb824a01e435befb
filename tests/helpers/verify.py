"""Build TokenVerifiers in tests: against an in-process app or a live authsvc server.

    with sync_asgi_client(create_app(settings, clock=clock), settings.issuer) as authsvc:
        verifier = verifier_for_app(authsvc, versions=DatabaseSource(database_url), clock=clock)
    verifier = verifier_for_server(server.url, issuer=..., versions=...)

The verifier is synchronous, so the in-process app runs (with its lifespan) on an event loop in
a thread of its own and is called through a small synchronous client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from authsvc.app import create_app
from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.passwords.hashing import PasswordHasher
from authsvc.verify import HttpResponse, TokenVerifier, TokenVersionSource
from authsvc.verify.http import basic_authorization

T = TypeVar("T")


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
    ready: asyncio.Future[SyncClient] = loop.create_future()  # type: ignore[assignment]
    stop = asyncio.Event()

    async def serve() -> None:
        async with LifespanManager(app) as manager:  # type: ignore[arg-type]
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


async def _wait(ready: asyncio.Future[T], served: Any) -> T:
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


class AppHttp:
    """The verifier's HttpClient, served by an in-process app instead of the network."""

    def __init__(self, client: SyncClient):
        self.client = client
        self.requests: list[str] = []

    def get(self, url: str) -> HttpResponse:
        self.requests.append(url)
        return _response(self.client.get(url))

    def post_form(
        self, url: str, data: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None
    ) -> HttpResponse:
        self.requests.append(url)
        headers = {} if basic_auth is None else {"Authorization": basic_authorization(*basic_auth)}
        return _response(self.client.post(url, data=dict(data), headers=headers))


class StaticHttp:
    """Serves fixed documents (a JWKS, discovery) and can change them between calls."""

    def __init__(self, documents: dict[str, Any], headers: dict[str, str] | None = None):
        self.documents = documents
        self.headers = headers or {}
        self.requests: list[str] = []

    def get(self, url: str) -> HttpResponse:
        import json

        self.requests.append(url)
        if url not in self.documents:
            return HttpResponse(status=404, body=b"{}")
        return HttpResponse(
            status=200, body=json.dumps(self.documents[url]).encode(), headers=self.headers
        )

    def post_form(
        self, url: str, data: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None
    ) -> HttpResponse:
        raise AssertionError("StaticHttp serves GET only")


def _response(response: Any) -> HttpResponse:
    return HttpResponse(
        status=response.status_code,
        body=response.content,
        headers={name.lower(): value for name, value in response.headers.items()},
    )


def verifier_for_app(
    authsvc: SyncClient, *, versions: TokenVersionSource, clock: Clock, **options: Any
) -> TokenVerifier:
    """A verifier that discovers the in-process authsvc's JWKS exactly as a real service would."""
    issuer = str(authsvc.base_url).rstrip("/")
    return TokenVerifier(issuer, versions=versions, clock=clock, http=AppHttp(authsvc), **options)


def verifier_for_server(
    url: str, *, versions: TokenVersionSource, issuer: str | None = None, **options: Any
) -> TokenVerifier:
    """A verifier against a live server; the JWKS URL is given, so any issuer setting works."""
    return TokenVerifier(
        issuer or url,
        versions=versions,
        jwks_url=f"{url}/.well-known/jwks.json",
        **options,
    )


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> bool:
    """Poll for something another thread or process does (never used to pass time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
