"""POST /logout: clears the cookie, ends the session, and with everywhere revokes every token."""

from __future__ import annotations

import httpx

from authsvc.config import Settings
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser
from tests.helpers.login import access_token
from tests.helpers.sessions import assert_revoked_by_another_process


async def test_logout_clears_the_cookie_and_ends_this_session(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    await access_token(client)
    session_id = (await client.get("/session")).json()["session"]["id"]

    response = await client.post("/logout")

    assert response.status_code == 200
    assert response.json() == {"logged_out": True, "everywhere": False}
    set_cookie = response.headers["set-cookie"].lower()
    assert set_cookie.startswith("authsvc_at=")
    assert "max-age=0" in set_cookie and "httponly" in set_cookie and "path=/" in set_cookie
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/session")).status_code == 401
    rows = db_query("SELECT ended_at, end_reason FROM sessions WHERE id = :id", id=session_id)
    assert rows[0].ended_at is not None and rows[0].end_reason == "logout"


async def test_logout_is_idempotent_and_works_without_a_valid_token(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/logout")
    second = await client.post("/logout", headers={"Authorization": "Bearer not-a-token"})
    assert first.status_code == second.status_code == 200
    assert "max-age=0" in second.headers["set-cookie"].lower()


async def test_everywhere_revokes_saved_copies_of_every_token_of_the_user(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
    database_url: str,
) -> None:
    user_id = make_user()
    async with (
        client_factory(settings) as laptop,
        client_factory(settings) as phone,
    ):
        await access_token(laptop)
        saved = await access_token(phone)
        assert (await laptop.get("/session")).status_code == 200

        response = await phone.post("/logout", params={"everywhere": "true"})
        assert response.json() == {"logged_out": True, "everywhere": True}

        # The phone's saved copy is refused on the very next call; the laptop's cookie is too on
        # SQLite, and within the push delay on PostgreSQL, where the laptop's app is another
        # instance that learns the revocation by push.
        replay = await phone.get("/session", headers={"Authorization": f"Bearer {saved}"})
        assert replay.status_code == 401 and replay.json()["error"] == "token_revoked"
        await assert_revoked_by_another_process(laptop, database_url)

    assert db_query("SELECT token_version FROM users WHERE id = :id", id=user_id)[0][0] == 1
    ended = db_query("SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL")[0][0]
    assert ended == 2
    events = [row.event for row in db_query("SELECT event FROM audit_events ORDER BY id")]
    assert events[-1] == "logout_everywhere"


async def test_a_new_login_after_logout_everywhere_works(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    await access_token(client)
    await client.post("/logout?everywhere=true")
    response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert (await client.get("/session")).status_code == 200


async def test_logout_everywhere_that_finds_nobody_is_refused_not_reported_done(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    """A device whose session already ended (or that never had one) cannot revoke the other
    devices: the answer says so, rather than a 200 a client could take for done."""
    user_id = make_user()
    saved = await access_token(client)
    assert (await client.post("/logout")).status_code == 200
    audited = db_query("SELECT count(*) FROM audit_events")[0][0]

    anonymous = await client.post("/logout", params={"everywhere": "true"})
    ended_token = await client.post(
        "/logout", params={"everywhere": "true"}, headers={"Authorization": f"Bearer {saved}"}
    )

    for refused in (anonymous, ended_token):
        assert (refused.status_code, refused.json()["error"]) == (401, "not_authenticated")
        # Whatever cookies the browser still held are cleared all the same.
        assert "max-age=0" in refused.headers["set-cookie"].lower()
    assert db_query("SELECT token_version FROM users WHERE id = :id", id=user_id)[0][0] == 0
    assert db_query("SELECT count(*) FROM audit_events")[0][0] == audited
