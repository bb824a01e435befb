"""GET /sessions, DELETE /sessions/{sid}, logout everywhere, and the single-session policy."""

from __future__ import annotations

import asyncio
import threading

import httpx

from authsvc.passwords.hashing import Argon2Hasher, Verification
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS, REFRESH
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device


async def test_sessions_lists_devices_with_current_flag(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    make_user("bob")
    laptop, phone, other_user = Device(client), Device(client), Device(client)
    await laptop.login(user_agent="Laptop/1.0")
    clock.advance(60)
    await phone.login(user_agent="Phone/2.0")
    await other_user.login("bob")
    response = await phone.get("/sessions")
    assert response.status_code == 200
    listed = response.json()["sessions"]
    assert [(item["user_agent"], item["current"]) for item in listed] == [
        ("Phone/2.0", True),
        ("Laptop/1.0", False),
    ]
    assert all({"id", "created_at", "last_used_at", "expires_at"} <= set(item) for item in listed)
    client.cookies.clear()
    assert (await client.get("/sessions")).status_code == 401


async def test_delete_session_ends_that_device_only(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    laptop, phone = Device(client), Device(client)
    laptop_sid = (await laptop.login()).json()["session"]["id"]
    await phone.login()
    response = await client.delete(f"/sessions/{laptop_sid}", headers=bearer(phone.access))
    assert response.status_code == 204
    assert (await laptop.refresh_now()).status_code == 401
    assert (await phone.refresh_now()).status_code == 200
    listed = (await phone.get("/sessions")).json()["sessions"]
    assert [item["current"] for item in listed] == [True]
    ended = db_query("SELECT end_reason FROM sessions WHERE id = :sid", sid=laptop_sid)
    assert ended[0].end_reason == "ended_by_user"
    again = await client.delete(f"/sessions/{laptop_sid}", headers=bearer(phone.access))
    assert again.status_code == 404 and again.json()["error"] == "not_found"


async def test_cannot_end_another_users_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    make_user("bob")
    alice, bob = Device(client), Device(client)
    await alice.login()
    bob_sid = (await bob.login("bob")).json()["session"]["id"]
    response = await client.delete(f"/sessions/{bob_sid}", headers=bearer(alice.access))
    assert response.status_code == 404
    assert (await bob.refresh_now()).status_code == 200


async def test_deleting_current_session_clears_cookies(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    device = Device(client)
    sid = (await device.login()).json()["session"]["id"]
    response = await client.delete(f"/sessions/{sid}", headers=bearer(device.access))
    assert response.status_code == 204
    cleared = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{REFRESH}=")]
    assert len(cleared) == 2
    assert (await device.refresh_now()).status_code == 401


async def test_logout_ends_current_session_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    laptop, phone = Device(client), Device(client)
    await laptop.login()
    await phone.login()
    assert (await client.post("/logout", headers=bearer(laptop.access))).status_code == 200
    assert (await laptop.refresh_now()).status_code == 401
    assert (await phone.refresh_now()).status_code == 200


async def test_logout_everywhere_ends_every_session_and_token(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    laptop, phone = Device(client), Device(client)
    await laptop.login()
    await phone.login()
    response = await client.post("/logout?everywhere=true", headers=bearer(laptop.access))
    assert response.json() == {"logged_out": True, "everywhere": True}
    assert (await phone.get("/session")).json()["error"] == "token_revoked"
    assert (await phone.refresh_now()).status_code == 401
    assert [row.ended_at is not None for row in db_query("SELECT ended_at FROM sessions")] == [
        True,
        True,
    ]


async def test_single_session_newest_ends_other_devices_at_once(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    async with client_factory(make_settings(single_session="newest")) as client:
        laptop, phone = Device(client), Device(client)
        await laptop.login()
        await phone.login()
        # Refused on its very next call, not only at its next refresh.
        assert (await laptop.get("/session")).json()["error"] == "token_revoked"
        assert (await laptop.refresh_now()).status_code == 401
        assert (await phone.get("/session")).status_code == 200
        assert len((await phone.get("/sessions")).json()["sessions"]) == 1


async def test_single_session_deny_refuses_second_login_until_logout(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(make_settings(single_session="deny")) as client:
        laptop = Device(client)
        await laptop.login()
        client.cookies.delete(ACCESS)  # the next logins come from another device
        refused = await client.post("/login", json={"username": "alice", "password": "x" * 12})
        assert refused.status_code == 401  # a wrong password still says nothing more
        second = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert second.status_code == 409
        assert second.json()["error"] == "session_active"
        assert (await laptop.get("/session")).status_code == 200
        await client.post("/logout", headers=bearer(laptop.access))
        again = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert again.status_code == 200
    reasons = db_query("SELECT detail FROM audit_events WHERE event = 'login_failure'")
    assert any("session_active" in str(row.detail) for row in reasons)


async def test_single_session_deny_lets_only_one_of_two_racing_logins_in(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """Both logins pass the password check together; then exactly one may open a session."""
    make_user()
    both_verified = threading.Barrier(2, timeout=20)

    class MeetingHasher(Argon2Hasher):
        def verify(self, password: str, stored_hash: str) -> Verification:
            result = super().verify(password, stored_hash)
            both_verified.wait()
            return result

    hasher = MeetingHasher(memory_cost=1024, time_cost=1)
    body = {"username": "alice", "password": PASSWORD}
    async with client_factory(make_settings(single_session="deny"), hasher=hasher) as client:
        first, second = await asyncio.gather(
            client.post("/login", json=body), client.post("/login", json=body)
        )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert db_query("SELECT count(*) FROM sessions")[0][0] == 1


async def test_single_session_off_allows_many_devices(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    laptop, phone = Device(client), Device(client)
    await laptop.login()
    await phone.login()
    assert (await laptop.get("/session")).status_code == 200
    assert len((await laptop.get("/sessions")).json()["sessions"]) == 2


async def test_logging_in_again_in_the_same_browser_ends_the_session_it_held(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    body = {"username": "alice", "password": PASSWORD}
    first = (await client.post("/login", json=body)).json()["session"]["id"]
    wrong = await client.post("/login", json={**body, "password": "not the password"})
    assert wrong.status_code == 401
    # A failed attempt from the same browser leaves its session alone.
    assert db_query("SELECT ended_at FROM sessions WHERE id = :id", id=first)[0][0] is None

    second = (await client.post("/login", json=body)).json()["session"]["id"]

    assert second != first
    rows = db_query("SELECT end_reason FROM sessions WHERE id = :id", id=first)
    assert rows[0].end_reason == "replaced"
    listed = (await client.get("/sessions")).json()["sessions"]
    assert [item["id"] for item in listed] == [second]


async def test_single_session_deny_does_not_block_a_re_login_from_the_same_browser(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    body = {"username": "alice", "password": PASSWORD}
    async with (
        client_factory(make_settings(single_session="deny")) as browser,
        client_factory(make_settings(single_session="deny")) as other_device,
    ):
        assert (await browser.post("/login", json=body)).status_code == 200
        assert (await browser.post("/login", json=body)).status_code == 200
        assert (await other_device.post("/login", json=body)).status_code == 409
