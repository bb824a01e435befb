"""The verifier's few HTTP calls (discovery, JWKS, introspection) behind a small Protocol."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from authsvc.errors import HttpError

# A JWKS or an introspection answer is a few KB; refuse to buffer more.
MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError("the answer is not JSON") from exc


class HttpClient(Protocol):
    def get(self, url: str) -> HttpResponse: ...

    def post_form(
        self, url: str, data: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None
    ) -> HttpResponse: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could move key discovery to a host the operator never named.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibClient:
    """The standard library's client: http(s) only, no redirects, bounded answers."""

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def get(self, url: str) -> HttpResponse:
        return self._send(urllib.request.Request(url, headers={"Accept": "application/json"}))

    def post_form(
        self, url: str, data: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None
    ) -> HttpResponse:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if basic_auth is not None:
            headers["Authorization"] = basic_authorization(*basic_auth)
        body = urllib.parse.urlencode(data).encode()
        return self._send(urllib.request.Request(url, data=body, headers=headers, method="POST"))

    def _send(self, request: urllib.request.Request) -> HttpResponse:
        if urllib.parse.urlsplit(request.full_url).scheme not in ("http", "https"):
            raise HttpError("only http and https URLs are fetched")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _read(response.status, response, response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return _read(exc.code, exc, exc.headers)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise HttpError(f"{request.full_url}: {type(exc).__name__}") from exc


def _read(status: int, stream: Any, headers: Any) -> HttpResponse:
    body = stream.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise HttpError("the answer is too large")
    return HttpResponse(
        status=status, body=body, headers={k.lower(): v for k, v in headers.items()}
    )


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 section 2.3.1: both parts form-encoded before the Basic encoding."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
