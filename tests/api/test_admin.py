"""Admin operations over HTTP (admin role) and in the CLI: disable, enable, revoke, list."""

from __future__ import annotations

import json

import httpx

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import DbQuery, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device


async def admin_and_alice(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[Device, Device]:
    make_user("root", roles=["admin"])
    make_user()
    admin, alice = Device(client), Device(client)
    await admin.login("root")
    await alice.login()
    return admin, alice


async def test_admin_endpoints_need_the_admin_role(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, alice = await admin_and_alice(client, make_user)
    for path in ("/admin/users/root/disable", "/admin/users/root/revoke"):
        response = await client.post(path, headers=bearer(alice.access))
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    listing = await client.get("/admin/users/root/sessions", headers=bearer(alice.access))
    assert listing.status_code == 403
    client.cookies.clear()
    assert (await client.post("/admin/users/alice/disable")).status_code == 401


async def test_admin_disable_revokes_at_once_and_enable_restores_login(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    admin, alice = await admin_and_alice(client, make_user)
    response = await client.post("/admin/users/alice/disable", headers=bearer(admin.access))
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).status_code == 401
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    assert db_query("SELECT token_version FROM users WHERE username = 'alice'")[0][0] == 1
    enabled = await client.post("/admin/users/alice/enable", headers=bearer(admin.access))
    assert enabled.json()["disabled"] is False
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200
    events = {row.event for row in db_query("SELECT event FROM audit_events")}
    assert {"user_disabled", "user_enabled"} <= events


async def test_admin_revoke_ends_all_sessions_and_lists_them(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, alice = await admin_and_alice(client, make_user)
    alice_id = (await alice.get("/session")).json()["user"]["id"]
    listed = await client.get(f"/admin/users/{alice_id}/sessions", headers=bearer(admin.access))
    assert len(listed.json()["sessions"]) == 1
    response = await client.post("/admin/users/alice/revoke", headers=bearer(admin.access))
    assert response.status_code == 200
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).status_code == 401
    listed = await client.get("/admin/users/alice/sessions", headers=bearer(admin.access))
    assert listed.json()["sessions"] == []
    # The admin's own session is untouched.
    assert (await admin.get("/session")).status_code == 200
    missing = await client.post("/admin/users/nobody/revoke", headers=bearer(admin.access))
    assert missing.status_code == 404


async def test_cli_disable_enable_revoke(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    make_user()
    alice = Device(client)
    await alice.login()
    env = cli_env(database_url)
    revoked = run_cli("users", "revoke", "alice", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"] is True
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).status_code == 401
    assert run_cli("users", "disable", "ALICE", env=env).returncode == 0
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    assert run_cli("users", "enable", "alice", env=env).returncode == 0
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 200
    unknown = run_cli("users", "disable", "nobody", env=env)
    assert unknown.returncode == 1 and "No such user" in unknown.stderr


async def test_cli_lists_a_users_live_sessions(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    user_id = make_user()
    laptop, phone = Device(client), Device(client)
    laptop_sid = (await laptop.login(user_agent="Laptop/1.0")).json()["session"]["id"]
    await phone.login(user_agent="Phone/2.0")
    ended = await client.delete(f"/sessions/{laptop_sid}", headers=bearer(phone.access))
    assert ended.status_code in (200, 204), ended.text
    env = cli_env(database_url)

    listed = run_cli("sessions", "list", "alice", env=env)

    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert body["user"] == user_id
    assert [item["user_agent"] for item in body["sessions"]] == ["Phone/2.0"]
    assert "refresh" not in listed.stdout.lower()
    missing = run_cli("sessions", "list", "nobody", env=env)
    assert missing.returncode == 1 and "No such user" in missing.stderr
