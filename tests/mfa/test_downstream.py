"""Downstream checks of how a user signed in: the verifier's level option and X-Auth-AAL."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI

from authsvc.verify import DatabaseSource, TokenVerifier, VerifiedSession
from tests.helpers.asgi import SyncClient, sync_asgi_client
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import log_in
from tests.helpers.mfa import enrol_totp, sign_in_with_code
from tests.helpers.verifiers import verifier_for_app


def bearer_token_of(response: httpx.Response) -> str:
    return response.cookies[ACCESS]


def _service(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    verifier.install(app)

    @app.get("/payments")
    def payments(
        session: VerifiedSession = Depends(verifier.require_aal(2, max_age=600)),  # noqa: B008
    ) -> dict[str, object]:
        return {"aal": session.aal, "amr": list(session.amr)}

    return app


async def test_the_verifier_requires_a_recent_second_factor_and_verify_tells_the_level(
    client: httpx.AsyncClient,
    authsvc: SyncClient,
    make_user: MakeUser,
    clock: FakeClock,
    database_url: str,
) -> None:
    make_user()
    make_user("bob")
    password_only = bearer_token_of(await log_in(client, "bob"))
    # Not a logout: that ends bob's session, and its token would be refused as session_ended
    # before its level is looked at.
    client.cookies.clear()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    two_factors = (await sign_in_with_code(client, enrolled.secret, clock)).cookies[ACCESS]
    versions = DatabaseSource(database_url)
    verifier = verifier_for_app(authsvc, versions=versions, clock=clock)
    try:
        with sync_asgi_client(_service(verifier), "http://service.test") as service:
            weak = service.get("/payments", headers=bearer(password_only))
            strong = service.get("/payments", headers=bearer(two_factors))
            clock.advance(601)
            stale = service.get("/payments", headers=bearer(two_factors))
    finally:
        verifier.close()

    assert (weak.status_code, weak.json()["error"]) == (403, "step_up_required")
    assert strong.status_code == 200, strong.text
    assert strong.json() == {"aal": 2, "amr": ["pwd", "otp", "mfa"]}
    assert (stale.status_code, stale.json()["error"]) == (403, "step_up_required")


async def test_forward_auth_says_the_level(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    assert (await client.get("/verify")).headers["x-auth-aal"] == "1"
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    await sign_in_with_code(client, enrolled.secret, clock)
    assert (await client.get("/verify")).headers["x-auth-aal"] == "2"
