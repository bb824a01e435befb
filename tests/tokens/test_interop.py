"""A token from authsvc verifies with an independent JOSE library, using only the public JWKS."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import post_login


async def test_joserfc_verifies_an_authsvc_token_with_nothing_but_the_jwks(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    user_id = make_user(roles=["staff"])
    async with client_factory(make_settings(expose_token_in_body=True)) as client:
        assert isinstance(client, httpx.AsyncClient)
        login = await post_login(client)
        token = login.json()["access_token"]
        metadata = (await client.get("/.well-known/openid-configuration")).json()
        jwks = (await client.get(metadata["jwks_uri"].removeprefix("http://authsvc.test"))).json()

    keys = KeySet.import_key_set(jwks)
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims_requests = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": "authsvc"},
        sub={"essential": True, "value": user_id},
        exp={"essential": True},
    )
    claims_requests.validate(decoded.claims)
    assert decoded.claims["roles"] == ["staff"]
    assert decoded.claims["tv"] == 0
