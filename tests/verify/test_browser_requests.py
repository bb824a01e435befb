"""What the verifier's FastAPI dependency and ASGI middleware accept from a browser: the access
cookie only under the name authsvc can set, and on unsafe methods only from an allowed origin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from authsvc.keys.material import public_jwk
from authsvc.verify import TokenVerifier, VerifiedSession, VerifierMiddleware, session_of
from tests.helpers.clock import FakeClock
from tests.helpers.forged import access_claims
from tests.helpers.verifiers import StaticHttp

SERVICE = "http://service.test"
FRONTEND = "https://app.example"


class OneUser:
    """A token-version source that knows one user, at version 0."""

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        return 0 if user_id == "user-1" else None

    def close(self) -> None:
        pass


def fastapi_app(verifier: TokenVerifier) -> ASGIApp:
    app = FastAPI()
    verifier.install(app)

    @app.api_route("/me", methods=["GET", "POST", "DELETE"])
    def me(session: VerifiedSession = Depends(verifier.session)) -> dict[str, str]:  # noqa: B008
        return {"user": session.user_id}

    return app


def starlette_app(verifier: TokenVerifier) -> ASGIApp:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": session_of(request.scope).user_id})

    app = Starlette(routes=[Route("/me", me, methods=["GET", "POST", "DELETE"])])
    return VerifierMiddleware(app, verifier)


FRONTENDS: dict[str, Callable[[TokenVerifier], ASGIApp]] = {
    "dependency": fastapi_app,
    "middleware": starlette_app,
}


class Service:
    """A downstream service in front of a verifier for `issuer`, and a token authsvc signed."""

    def __init__(self, issuer: str, clock: FakeClock, **options: Any):
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = public_jwk(key, "ES256")
        jwks_url = f"{issuer}/.well-known/jwks.json"
        http = StaticHttp({jwks_url: {"keys": [jwk]}}, {"cache-control": "max-age=300"})
        self.verifier = TokenVerifier(
            issuer, versions=OneUser(), jwks_url=jwks_url, clock=clock, http=http, **options
        )
        claims = access_claims(clock.now(), iss=issuer, sub="user-1")
        self.token = jwt.encode(
            claims, key, algorithm="ES256", headers={"kid": jwk["kid"], "typ": "at+jwt"}
        )


@pytest.fixture(params=list(FRONTENDS))
def frontend(request: pytest.FixtureRequest) -> Callable[[TokenVerifier], ASGIApp]:
    built: Callable[[TokenVerifier], ASGIApp] = FRONTENDS[request.param]
    return built


async def client_for(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SERVICE) as client:
        yield client


def answer(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json()
    return response.status_code, body.get("error") if response.status_code != 200 else None


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("POST", {}, (403, "csrf_failed")),
        ("POST", {"Origin": "https://evil.example"}, (403, "csrf_failed")),
        ("POST", {"Origin": "null"}, (403, "csrf_failed")),
        ("DELETE", {"Origin": "http://service.test.evil.example"}, (403, "csrf_failed")),
        ("POST", {"Sec-Fetch-Site": "cross-site"}, (403, "csrf_failed")),
        ("POST", {"Sec-Fetch-Site": "same-site"}, (403, "csrf_failed")),
        ("POST", {"Origin": SERVICE}, (200, None)),
        ("POST", {"Origin": FRONTEND}, (200, None)),
        ("POST", {"Sec-Fetch-Site": "same-origin"}, (200, None)),
        ("GET", {"Origin": "https://evil.example"}, (200, None)),
    ],
    ids=[
        "no-origin",
        "foreign-origin",
        "null-origin",
        "origin-prefix",
        "cross-site-fetch",
        "same-site-fetch",
        "own-origin",
        "allowed-origin",
        "same-origin-fetch",
        "safe-method",
    ],
)
async def test_a_cookie_on_an_unsafe_request_must_come_from_an_allowed_origin(
    frontend: Callable[[TokenVerifier], ASGIApp],
    clock: FakeClock,
    method: str,
    headers: dict[str, str],
    expected: tuple[int, str | None],
) -> None:
    service = Service("http://auth.test", clock, allowed_origins=[FRONTEND])
    async for client in client_for(frontend(service.verifier)):
        cookie = {"Cookie": f"authsvc_at={service.token}"}
        response = await client.request(method, "/me", headers={**cookie, **headers})
        assert answer(response) == expected, response.text
        # A bearer token is exempt: a foreign page cannot attach the header without CORS.
        bearer = {"Authorization": f"Bearer {service.token}", **headers}
        assert answer(await client.request(method, "/me", headers=bearer)) == (200, None)


@pytest.mark.parametrize(
    ("issuer", "options", "accepted", "refused"),
    [
        # authsvc always prefixes the cookie for an https issuer without a cookie domain, so an
        # unprefixed one can only have been planted (by a sibling subdomain, say).
        ("https://auth.test", {}, "__Host-authsvc_at", "authsvc_at"),
        # Over plain HTTP, and with a Domain, the prefix cannot be used: only the plain name.
        ("http://auth.test", {}, "authsvc_at", "__Host-authsvc_at"),
        ("https://auth.test", {"cookie_domain": "example.com"}, "authsvc_at", "__Host-authsvc_at"),
    ],
    ids=["https", "http", "https-with-domain"],
)
async def test_the_cookie_is_read_only_under_the_name_authsvc_gives_it(
    frontend: Callable[[TokenVerifier], ASGIApp],
    clock: FakeClock,
    issuer: str,
    options: dict[str, str],
    accepted: str,
    refused: str,
) -> None:
    service = Service(issuer, clock, **options)
    async for client in client_for(frontend(service.verifier)):
        good = await client.get("/me", headers={"Cookie": f"{accepted}={service.token}"})
        assert answer(good) == (200, None)
        planted = await client.get("/me", headers={"Cookie": f"{refused}={service.token}"})
        assert answer(planted) == (401, "not_authenticated")
