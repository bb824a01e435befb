"""POST /introspect (RFC 7662): client authentication, active and inactive answers."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from authsvc.services.introspection import new_client_secret
from tests.helpers.cli import run_cli
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.forged import foreign_token
from tests.helpers.login import bearer_token

SECRET, DIGEST = new_client_secret()
CLIENTS = f"billing:{DIGEST}"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(introspection_clients=CLIENTS)


async def introspect(
    client: httpx.AsyncClient, token: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/introspect", data={"token": token}, headers=headers or basic("billing", SECRET)
    )


async def test_an_active_token_is_described(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user_id = make_user(roles=["staff"])
    token = await bearer_token(client)
    response = await introspect(client, token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["sub"] == user_id
    assert body["username"] == "alice"
    assert body["iss"] == "http://authsvc.test"
    assert body["aud"] == "authsvc"
    assert body["token_type"] == "Bearer"
    assert body["tv"] == 0
    assert body["roles"] == ["staff"]
    assert body["exp"] > body["iat"]


async def test_anything_not_valid_now_is_just_inactive(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    clock: FakeClock,
    settings: Settings,
) -> None:
    make_user()
    revoked = await bearer_token(client)
    await client.post("/logout?everywhere=true", headers={"Authorization": f"Bearer {revoked}"})
    expiring = await bearer_token(client)
    tampered = expiring[:-4] + ("AAAA" if not expiring.endswith("AAAA") else "BBBB")
    cases = [revoked, tampered, foreign_token(issuer=settings.issuer), "garbage", "x" * 5000]
    for token in cases:
        response = await introspect(client, token)
        assert response.status_code == 200
        assert response.json() == {"active": False}
    assert (await introspect(client, expiring)).json()["active"] is True
    clock.advance(settings.access_token_ttl_seconds + settings.clock_leeway_seconds + 1)
    assert (await introspect(client, expiring)).json() == {"active": False}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("billing", "wrong-secret"),
        basic("nobody", SECRET),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": f"Bearer {SECRET}"},
    ],
)
async def test_unauthenticated_clients_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, headers: dict[str, str]
) -> None:
    make_user()
    token = await bearer_token(client)
    response = await client.post("/introspect", data={"token": token}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="authsvc"'
    assert "sub" not in response.text


async def test_credentials_in_the_form_are_accepted_but_not_twice(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    token = await bearer_token(client)
    form = {"token": token, "client_id": "billing", "client_secret": SECRET}
    posted = await client.post("/introspect", data=form)
    assert posted.json()["active"] is True
    both = await client.post("/introspect", data=form, headers=basic("billing", SECRET))
    assert both.status_code == 400


async def test_malformed_requests_get_a_clear_4xx(client: httpx.AsyncClient) -> None:
    missing = await client.post(
        "/introspect", data={"token_type_hint": "access_token"}, headers=basic("billing", SECRET)
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    as_json = await client.post(
        "/introspect", content=json.dumps({"token": "x"}), headers=basic("billing", SECRET)
    )
    assert as_json.status_code == 415
    repeated = await client.post(
        "/introspect",
        content="token=a&token=b",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic("billing", SECRET)},
    )
    assert repeated.status_code == 400


async def test_without_configured_clients_nobody_may_introspect(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    async with client_factory(make_settings()) as client:
        token = await bearer_token(client)
        response = await introspect(client, token)
    assert response.status_code == 401


async def test_discovery_names_the_introspection_endpoint(client: httpx.AsyncClient) -> None:
    document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["introspection_endpoint"] == "http://authsvc.test/introspect"


@pytest.mark.parametrize(
    "entry",
    [f"billing:{SECRET}", "billing:sha256:abc", "bad id:" + DIGEST, f"{CLIENTS},{CLIENTS}"],
    # Named, not shown: the secret is new in every process, and a split run's workers must
    # collect the same tests.
    ids=["secret-not-hash", "short-hash", "bad-client-id", "client-twice"],
)
def test_client_entries_must_be_hashes(entry: str) -> None:
    with pytest.raises(ValidationError, match="introspection_clients"):
        Settings(_env_file=None, introspection_clients=entry)


async def test_the_cli_prints_a_secret_and_the_entry_that_admits_it(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    result = run_cli("introspection-client", "new", "reports", env={})
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["entry"].startswith("reports:sha256:")
    make_user()
    async with client_factory(make_settings(introspection_clients=printed["entry"])) as client:
        token = await bearer_token(client)
        response = await introspect(client, token, basic("reports", printed["client_secret"]))
    assert response.json()["active"] is True
