"""The attack catalogue: crafted tokens against GET /session (bearer and cookie) and against the
downstream verifier (authsvc.verify). Each must get 401 and no cookie that grants access."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.config import Settings
from authsvc.errors import InvalidToken
from authsvc.tokens import access
from authsvc.verify import DatabaseSource, TokenVerifier
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.forged import service_ring
from tests.helpers.login import bearer_token
from tests.helpers.token_attacks import Material, catalogue, huge_tokens
from tests.helpers.verifiers import StaticHttp

Target = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def session_by_bearer(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/session", headers={"Authorization": f"Bearer {token}"})


async def session_by_cookie(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/session", headers={"Cookie": f"authsvc_at={token}"})


@asynccontextmanager
async def targets(
    client: httpx.AsyncClient, settings: Settings, database_url: str, clock: FakeClock
) -> AsyncIterator[dict[str, Target]]:
    """GET /session both ways, and a downstream verifier fed the service's real JWKS."""
    jwks_url = f"{settings.issuer}/.well-known/jwks.json"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    http = StaticHttp({jwks_url: jwks}, headers={"cache-control": "max-age=300"})
    verifier = TokenVerifier(
        settings.issuer,
        versions=DatabaseSource(database_url),
        jwks_url=jwks_url,
        clock=clock,
        http=http,
    )

    async def downstream(_client: httpx.AsyncClient, token: str) -> httpx.Response:
        try:
            verifier.verify(token)
        except InvalidToken as exc:
            return httpx.Response(exc.status, json={"error": exc.code})
        return httpx.Response(200)

    try:
        yield {
            "session-bearer": session_by_bearer,
            "session-cookie": session_by_cookie,
            "verifier": downstream,
        }
    finally:
        verifier.close()
    # A verifier that followed jku/x5u through its HTTP client would show up here.
    assert set(http.requests) <= {jwks_url}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local port that a verifier following `jku`/`x5u` would connect to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def assert_nobody_called(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        connection, _ = sock.accept()
        connection.close()


async def material_for(
    client: httpx.AsyncClient, database_url: str, listener: socket.socket
) -> Material:
    token = await bearer_token(client)
    ring = service_ring(database_url)
    assert ring.signer is not None
    key = ring.signer.key
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return Material(
        token=token,
        header=jwt.get_unverified_header(token),
        payload=jwt.decode(token, options={"verify_signature": False}),
        private_key=key,
        jwk=ring.jwks["keys"][0],
        jku_url=f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json",
    )


# The code each forged token must be refused with; every other one is `invalid_token`. A 401
# alone proves little: the token-version check answers 401 `token_revoked` to many a token that
# a claim check should have refused first.
EXPECTED_CODES = {"expired": "token_expired"}


def expected_code(name: str) -> str:
    return EXPECTED_CODES.get(name, "invalid_token")


def grants_access(response: httpx.Response) -> bool:
    return any(
        value.split("=", 1)[0].removeprefix("__Host-") == "authsvc_at"
        and "max-age=0" not in value.lower()
        for value in response.headers.get_list("set-cookie")
    )


async def run_catalogue(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    material: Material,
    checked: dict[str, Target],
) -> list[str]:
    failures = []
    for target_name, target in checked.items():
        # The control: re-signed with our key and nothing changed, it is accepted.
        control = await target(client, material.sign())
        assert control.status_code == 200, (target_name, control.text)
        for name, token in tokens.items():
            response = await target(client, token)
            code = response.json().get("error") if response.status_code == 401 else None
            if code != expected_code(name) or grants_access(response):
                failures.append(f"{target_name}: {name} -> {response.status_code} {code}")
    return failures


async def test_forged_and_malformed_tokens_are_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    database_url: str,
    listener: socket.socket,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(settings) as client:
        material = await material_for(client, database_url, listener)
        tokens = catalogue(material)
        assert len(tokens) > 100
        async with targets(client, settings, database_url, clock) as checked:
            assert set(checked) == {"session-bearer", "session-cookie", "verifier"}
            failures = await run_catalogue(client, tokens, material, checked)
    assert failures == []
    assert_nobody_called(listener)


async def test_algorithm_confusion_with_an_rsa_key(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    database_url: str,
    listener: socket.socket,
    clock: FakeClock,
) -> None:
    """RS256 keys have a PKCS#1 form: HS256 signed with it (and the other forms) is refused."""
    make_user()
    rsa_settings = make_settings(signing_algorithm="RS256")
    async with client_factory(rsa_settings) as client:
        material = await material_for(client, database_url, listener)
        tokens = {
            name: token
            for name, token in catalogue(material).items()
            if name.startswith(("hs256", "alg-"))
        }
        assert any("pkcs1" in name for name in tokens)
        async with targets(client, rsa_settings, database_url, clock) as checked:
            failures = await run_catalogue(client, tokens, material, checked)
    assert failures == []


async def test_huge_tokens_are_refused_before_any_decoding(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    database_url: str,
    listener: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(settings) as client:
        material = await material_for(client, database_url, listener)
        tokens = huge_tokens(material)
        decoded: list[str] = []
        # PyJWT's decoders, and the one place authsvc's own token reader decodes a segment.
        decoders = [
            (jwt, "get_unverified_header"),
            (jwt, "decode"),
            (jwt, "decode_complete"),
            (access, "_base64url"),
        ]
        for module, name in decoders:
            original = getattr(module, name)

            def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                decoded.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(module, name, spy)
        async with targets(client, settings, database_url, clock) as checked:
            for name, token in tokens.items():
                for target_name, target in checked.items():
                    response = await target(client, token)
                    assert response.status_code == 401, (target_name, name)
                    assert not grants_access(response)
        assert decoded == []
        # The spies do see a normal token, so an empty list means "never decoded".
        assert (await session_by_bearer(client, material.sign())).status_code == 200
        assert decoded
