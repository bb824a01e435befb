"""The provider's `amr` trusted only when the operator says so; changes during the round trip."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest
import respx
from sqlalchemy import text

from authsvc.storage.engine import make_engine
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, MakeSettings
from tests.helpers.idp_stub import StubIdp
from tests.helpers.mfa import enrol_totp
from tests.helpers.oidc import query_of


@pytest.fixture
def idp() -> Iterator[StubIdp]:
    stub = StubIdp()
    with respx.mock(assert_all_called=False) as router:
        stub.install(router)
        yield stub


async def _sign_in(client: httpx.AsyncClient, idp: StubIdp, **claims: object) -> httpx.Response:
    started = await client.get("/oauth/stub/authorize")
    query = query_of(started.headers["location"])
    idp.id_token = idp.sign(idp.claims(query["nonce"], **claims))
    return await client.get("/oauth/stub/callback", params={"code": "c", "state": query["state"]})


@pytest.mark.parametrize("trusted", [False, True])
async def test_the_provider_s_mfa_stands_in_only_when_trusted(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    idp: StubIdp,
    clock: FakeClock,
    trusted: bool,
) -> None:
    settings = make_settings(registration="open", oauth_providers=[idp.setting(trust_amr=trusted)])
    async with client_factory(settings) as client:
        assert (await _sign_in(client, idp)).status_code == 303
        await enrol_totp(client, clock)
        client.cookies.clear()

        response = await _sign_in(client, idp, amr=["pwd", "mfa"])

        assert response.status_code == 303, response.text
        if trusted:
            claims = jwt.decode(response.cookies[ACCESS], options={"verify_signature": False})
            assert (claims["amr"], claims["aal"]) == (["pwd", "mfa", "fed"], 2)
        else:
            assert response.headers["location"] == "/ui/login/mfa"
            assert ACCESS not in response.cookies


async def test_an_account_disabled_during_the_exchange_is_not_signed_in(
    client_factory: ClientFactory, make_settings: MakeSettings, idp: StubIdp, database_url: str
) -> None:
    settings = make_settings(registration="open", oauth_providers=[idp.setting()])
    async with client_factory(settings) as client:
        assert (await _sign_in(client, idp)).status_code == 303
        client.cookies.clear()

        def disable_everyone(_: httpx.Request) -> None:
            engine = make_engine(database_url)
            try:
                with engine.begin() as connection:
                    connection.execute(text("UPDATE users SET disabled = true"))
            finally:
                engine.dispose()

        idp.on_exchange = disable_everyone
        response = await _sign_in(client, idp)

        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_credentials"
        assert ACCESS not in response.cookies
