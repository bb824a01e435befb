"""TokenVerifiers built for tests against an in-process authsvc, and the HTTP clients that
serve a verifier in-process or fixed documents instead of the network."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from authsvc.clock import Clock
from authsvc.errors import TokenRevoked
from authsvc.verify import HttpResponse, TokenVerifier, TokenVersionSource
from authsvc.verify.http import basic_authorization
from tests.helpers.asgi import SyncClient


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


def _response(response: httpx.Response) -> HttpResponse:
    return HttpResponse(
        status=response.status_code,
        body=response.content,
        headers={name.lower(): value for name, value in response.headers.items()},
    )


def verifier_for_app(
    authsvc: SyncClient, *, versions: TokenVersionSource, clock: Clock
) -> TokenVerifier:
    """A verifier that discovers the in-process authsvc's JWKS exactly as a real service would."""
    issuer = str(authsvc.base_url).rstrip("/")
    return TokenVerifier(issuer, versions=versions, clock=clock, http=AppHttp(authsvc))


def refuses_as_revoked(verifier: TokenVerifier, token: str) -> Callable[[], bool]:
    """A condition to poll: whether the verifier now refuses the token as revoked."""

    def refused() -> bool:
        try:
            verifier.verify(token)
        except TokenRevoked:
            return True
        return False

    return refused
