"""JWKS, discovery document and the probes."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import access_token


async def test_jwks_publishes_the_key_that_signed_the_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    token = await access_token(client)

    response = await client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [key for key in keys if key["kid"] == kid]
    assert key["alg"] == "ES256" and key["use"] == "sig" and key["kty"] == "EC"
    assert "d" not in key  # never the private part
    # The published key verifies the token with nothing but the JWKS.
    public = jwt.PyJWK(key).key
    claims = jwt.decode(
        token,
        public,
        algorithms=["ES256"],
        audience="authsvc",
        issuer="http://authsvc.test",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["tv"] == 0


async def test_openid_configuration_points_at_the_jwks(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/openid-configuration")
    body = response.json()
    assert body["issuer"] == "http://authsvc.test"
    assert body["jwks_uri"] == "http://authsvc.test/.well-known/jwks.json"
    assert body["token_signing_alg_values_supported"] == ["ES256"]
    for name in ("login", "logout", "session", "refresh", "sessions", "password", "introspection"):
        path = "introspect" if name == "introspection" else name
        assert body[f"{name}_endpoint"] == f"http://authsvc.test/{path}"
    assert "registration_endpoint" not in body  # registration is closed by default


async def test_openid_configuration_names_registration_only_when_open(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(registration="open")) as client:
        body = (await client.get("/.well-known/openid-configuration")).json()
    assert body["registration_endpoint"] == "http://authsvc.test/register"


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": True, "signing_key": True}


async def test_readyz_is_503_without_a_signing_key(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(create_key_if_missing=False)) as client:
        ready = await client.get("/readyz")
        jwks = await client.get("/.well-known/jwks.json")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "database": True, "signing_key": False}
    assert jwks.json() == {"keys": []}


async def test_login_without_a_signing_key_fails_closed(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(make_settings(create_key_if_missing=False)) as client:
        response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("algorithm", "kty"), [("ES256", "EC"), ("EdDSA", "OKP"), ("RS256", "RSA")]
)
async def test_every_selectable_algorithm_signs_publishes_and_verifies(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    algorithm: str,
    kty: str,
) -> None:
    make_user()
    async with client_factory(make_settings(signing_algorithm=algorithm)) as client:
        token = await access_token(client)
        assert (await client.get("/session")).status_code == 200
        (key,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert (key["alg"], key["kty"]) == (algorithm, kty)
    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=[algorithm],
        audience="authsvc",
        issuer="http://authsvc.test",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["aud"] == "authsvc"
