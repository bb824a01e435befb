"""The double-submit token itself: it carries the service's signature and is bound to the session
it was issued for, so a CSRF cookie planted by a sibling subdomain (unsigned, anonymous, or another
session's, even one the service has already found valid) is refused; with no access cookie to name
a session, as on a refresh after it expired, the session's own token still passes."""

from __future__ import annotations

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.csrf import HEADER, ORIGIN, token_version
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser
from tests.helpers.headers import csrf_token
from tests.helpers.login import log_in


async def test_unsigned_csrf_cookie_is_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """A sibling subdomain can plant a cookie, but cannot sign it."""
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)
        client.cookies.set("authsvc_csrf", "planted.value", domain="authsvc.test")
        response = await client.post(
            "/logout",
            params={"everywhere": "true"},
            headers={"Origin": ORIGIN, HEADER: "planted.value"},
        )
        assert response.status_code == 403
    assert token_version(db_query) == 0


async def test_a_validly_signed_token_of_another_session_is_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """A sibling subdomain cannot sign, but it can fetch a signed token of its own (anonymous, or
    for its own session) and plant that: the token is bound to the session it was issued for."""
    make_user()
    make_user("mallory")
    async with client_factory(settings, browser=False) as attacker:
        await attacker.get("/session")
        anonymous = csrf_token(attacker)
        await log_in(attacker, "mallory")
        own_session = csrf_token(attacker)
    async with client_factory(settings, browser=False) as victim:
        await log_in(victim)
        for planted in (anonymous, own_session):
            victim.cookies.set("authsvc_csrf", planted, domain="authsvc.test")
            response = await victim.post(
                "/logout",
                params={"everywhere": "true"},
                headers={"Origin": ORIGIN, HEADER: planted},
            )
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "csrf_failed"
        # The token handed out with the victim's own session still works, and a page gets a
        # token bound to its session from GET /session when the cookie it holds is not.
        assert (await victim.get("/session")).status_code == 200
        fresh = csrf_token(victim)
        assert fresh not in (anonymous, own_session)
        response = await victim.post(
            "/logout", params={"everywhere": "true"}, headers={"Origin": ORIGIN, HEADER: fresh}
        )
        assert response.status_code == 200, response.text
    assert token_version(db_query) == 1


async def test_a_token_once_found_valid_is_still_refused_beside_another_session(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """The service remembers a token it found valid, for that session only: planted beside
    another session's access cookie in the same service, it is checked in full and refused."""
    make_user()
    make_user("mallory")
    async with client_factory(settings, browser=False) as client:
        await log_in(client, "mallory")
        assert (await client.get("/session")).status_code == 200  # found valid, remembered
        mallorys = csrf_token(client)
        assert (await client.get("/session")).status_code == 200
        assert csrf_token(client) == mallorys
        client.cookies.clear()
        await log_in(client)
        client.cookies.set("authsvc_csrf", mallorys, domain="authsvc.test")
        response = await client.post(
            "/logout", params={"everywhere": "true"}, headers={"Origin": ORIGIN, HEADER: mallorys}
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "csrf_failed"
    assert token_version(db_query) == 0


async def test_a_refresh_after_the_access_cookie_expired_still_passes(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, clock: FakeClock
) -> None:
    """Without an access cookie no session is named: the session's own token is accepted."""
    make_user()
    async with client_factory(settings) as client:
        await log_in(client)
        clock.advance(16 * 60)  # the browser drops the expired access cookie
        client.cookies.delete("authsvc_at")
        response = await client.post("/refresh")
        assert response.status_code == 200, response.text
        assert (await client.get("/session")).status_code == 200
        assert (await client.post("/logout")).status_code == 200
