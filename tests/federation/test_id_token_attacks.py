"""ID tokens that must not sign anyone in, and GitHub's emails, against stood-in providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text

from authsvc.storage.engine import make_engine
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.idp_stub import StubIdp, new_key
from tests.helpers.login import log_in
from tests.helpers.oidc import query_of


@pytest.fixture
def idp() -> Iterator[StubIdp]:
    stub = StubIdp()
    with respx.mock(assert_all_called=False) as router:
        stub.install(router)
        yield stub


@pytest.fixture
async def client(
    client_factory: ClientFactory, make_settings: MakeSettings, idp: StubIdp
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(registration="open", oauth_providers=[idp.setting()])
    async with client_factory(settings) as client:
        yield client


async def _start(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/oauth/stub/authorize")
    assert response.status_code == 303, response.text
    return query_of(response.headers["location"])


async def _callback(client: httpx.AsyncClient, state: str) -> httpx.Response:
    return await client.get("/oauth/stub/callback", params={"code": "c0de", "state": state})


async def test_a_good_id_token_signs_in(client: httpx.AsyncClient, idp: StubIdp) -> None:
    """The control of the attacks below: the same path with nothing wrong succeeds."""
    started = await _start(client)
    idp.id_token = idp.sign(idp.claims(started["nonce"]))
    response = await _callback(client, started["state"])
    assert response.status_code == 303, response.text
    assert ACCESS in response.cookies


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"aud": "another-client"}, id="for another audience"),
        pytest.param({"iss": "https://other.example"}, id="from another issuer"),
        pytest.param({"exp": 1_000_000_000, "iat": 999_999_000}, id="expired"),
    ],
)
async def test_an_id_token_that_does_not_hold_is_refused(
    client: httpx.AsyncClient, idp: StubIdp, db_query: DbQuery, forged: dict[str, Any]
) -> None:
    started = await _start(client)
    idp.id_token = idp.sign(idp.claims(started["nonce"], **forged))
    response = await _callback(client, started["state"])
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "id_token_invalid"
    assert ACCESS not in response.cookies
    assert db_query("SELECT count(*) FROM users")[0][0] == 0


async def test_an_id_token_signed_by_another_key_is_refused(
    client: httpx.AsyncClient, idp: StubIdp
) -> None:
    started = await _start(client)
    # The attacker's key, under the kid of the provider's: only the signature tells them apart.
    idp.id_token = idp.sign(idp.claims(started["nonce"]), new_key("idp-1"))
    response = await _callback(client, started["state"])
    assert response.status_code == 401
    assert response.json()["error"] == "id_token_invalid"


async def test_an_id_token_of_another_sign_in_is_refused_by_its_nonce(
    client: httpx.AsyncClient, idp: StubIdp
) -> None:
    """A replayed ID token: valid, but for an earlier sign-in's nonce."""
    earlier = await _start(client)
    idp.id_token = idp.sign(idp.claims(earlier["nonce"]))
    assert (await _callback(client, earlier["state"])).status_code == 303
    client.cookies.delete(ACCESS)

    later = await _start(client)
    response = await _callback(client, later["state"])

    assert response.status_code == 401
    assert response.json()["error"] == "id_token_invalid"


async def test_linking_refused_when_the_account_is_disabled_during_the_exchange(
    client: httpx.AsyncClient,
    idp: StubIdp,
    make_user: MakeUser,
    db_query: DbQuery,
    database_url: str,
) -> None:
    """The gate: the account changes while the provider answers; the re-check under lock wins."""
    alice = make_user("alice")
    await log_in(client)
    started = await client.get("/oauth/stub/authorize", params={"link": "true"})
    query = query_of(started.headers["location"])
    idp.id_token = idp.sign(idp.claims(query["nonce"], sub="alice-at-idp"))

    def disable_alice(_: httpx.Request) -> None:
        engine = make_engine(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE users SET disabled = true, token_version = token_version + 1 "
                        "WHERE id = :u"
                    ),
                    {"u": alice},
                )
        finally:
            engine.dispose()

    idp.on_exchange = disable_alice
    response = await _callback(client, query["state"])

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_credentials"
    assert db_query("SELECT count(*) FROM identities")[0][0] == 0
