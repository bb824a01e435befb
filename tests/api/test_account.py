"""POST /password with its policy, and POST /register when registration is open."""

from __future__ import annotations

import httpx

from tests.helpers.cookies import refresh_token_of
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device, refresh_with

NEW_PASSWORD = "a new and rather long passphrase"


async def change(
    client: httpx.AsyncClient, device: Device, current: str, new: str
) -> httpx.Response:
    response = await client.post(
        "/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(device.access),
    )
    device.remember(response)
    return response


async def test_password_change_keeps_this_session_and_ends_every_other(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    laptop, phone = Device(client), Device(client)
    await laptop.login()
    await phone.login()
    old_refresh = laptop.refresh
    response = await change(client, laptop, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    assert refresh_token_of(response) != old_refresh
    # The other device is out at once; this one goes on with its new tokens.
    assert (await phone.get("/session")).json()["error"] == "token_revoked"
    assert (await phone.refresh_now()).status_code == 401
    assert (await laptop.get("/session")).status_code == 200
    assert (await laptop.refresh_now()).status_code == 200
    # The replaced refresh token of this session gets no grace.
    assert (await refresh_with(client, old_refresh)).status_code == 401
    assert (
        await client.post("/login", json={"username": "alice", "password": PASSWORD})
    ).status_code == 401
    assert (
        await client.post("/login", json={"username": "alice", "password": NEW_PASSWORD})
    ).status_code == 200
    events = [row.event for row in db_query("SELECT event FROM audit_events")]
    assert "password_changed" in events


async def test_a_refresh_token_replaced_by_a_password_change_is_reuse(
    client: httpx.AsyncClient, device: Device, db_query: DbQuery
) -> None:
    """A copy taken before the change, presented after it, ends the session as a theft."""
    copied = device.refresh
    assert (await change(client, device, PASSWORD, NEW_PASSWORD)).status_code == 200
    reused = await refresh_with(client, copied)
    assert reused.json()["error"] == "refresh_token_reused"
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "refresh_token_reuse"
    assert (await device.get("/session")).json()["error"] == "token_revoked"


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, device: Device, db_query: DbQuery
) -> None:
    response = await change(client, device, "not the password", NEW_PASSWORD)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert (await device.get("/session")).status_code == 200
    assert db_query("SELECT event FROM audit_events WHERE event = 'password_change_failure'")
    client.cookies.clear()
    anonymous = await client.post(
        "/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert anonymous.status_code == 401


async def test_password_policy_rejects_short_common_and_username_passwords(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user("alice.wonderland")
    device = Device(client)
    await device.login("alice.wonderland")
    cases = {
        "short1!": "at least 12 characters",
        "password1234": "too common",
        "QWERTY123456": "too common",
        "alice.wonderland-2024": "username",
    }
    for password, words in cases.items():
        response = await change(client, device, PASSWORD, password)
        assert response.status_code == 400, password
        body = response.json()
        assert body["error"] == "weak_password" and words in body["detail"], body
    assert (await device.get("/session")).status_code == 200


async def test_password_min_length_is_configurable(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    async with client_factory(make_settings(password_min_length=20)) as client:
        device = Device(client)
        await device.login()
        response = await change(client, device, PASSWORD, "fifteen chars!!")
        assert response.json()["detail"] == "A password has at least 20 characters."


async def test_register_is_absent_unless_open(client: httpx.AsyncClient) -> None:
    response = await client.post("/register", json={"username": "eve", "password": NEW_PASSWORD})
    assert response.status_code == 404


async def test_register_when_open(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    db_query: DbQuery,
) -> None:
    async with client_factory(make_settings(registration="open")) as client:
        created = await client.post("/register", json={"username": "Eve", "password": NEW_PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["username"] == "eve" and created.json()["roles"] == []
        duplicate = await client.post(
            "/register", json={"username": "EVE", "password": NEW_PASSWORD}
        )
        assert duplicate.status_code == 409
        weak = await client.post("/register", json={"username": "mallory", "password": "qwerty"})
        assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
        extra = await client.post(
            "/register", json={"username": "m", "password": NEW_PASSWORD, "roles": ["admin"]}
        )
        assert extra.status_code == 400
        assert extra.json()["error"] == "invalid_request"
        login = await client.post("/login", json={"username": "eve", "password": NEW_PASSWORD})
        assert login.status_code == 200
    assert [row.username for row in db_query("SELECT username FROM users")] == ["eve"]
