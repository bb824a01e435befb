"""Admin operations over HTTP (admin role) and in the CLI: disable, enable, revoke, list."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.helpers.cli import cli, cli_env, run_cli
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


def user_id(db_query: DbQuery, username: str) -> str:
    rows = db_query("SELECT id FROM users WHERE username = :name", name=username)
    assert len(rows) == 1, username
    return str(rows[0][0])


async def test_admin_endpoints_need_the_admin_role(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    _, alice = await admin_and_alice(client, make_user)
    root = user_id(db_query, "root")
    for path in (f"/admin/users/{root}/disable", f"/admin/users/{root}/revoke"):
        response = await client.post(path, headers=bearer(alice.access))
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    listing = await client.get(f"/admin/users/{root}/sessions", headers=bearer(alice.access))
    assert listing.status_code == 403
    client.cookies.clear()
    assert (await client.post(f"/admin/users/{root}/disable")).status_code == 401


async def test_admin_disable_revokes_at_once_and_enable_restores_login(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    admin, alice = await admin_and_alice(client, make_user)
    alice_id = user_id(db_query, "alice")
    response = await client.post(f"/admin/users/{alice_id}/disable", headers=bearer(admin.access))
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).status_code == 401
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    assert db_query("SELECT token_version FROM users WHERE username = 'alice'")[0][0] == 1
    enabled = await client.post(f"/admin/users/{alice_id}/enable", headers=bearer(admin.access))
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
    response = await client.post(f"/admin/users/{alice_id}/revoke", headers=bearer(admin.access))
    assert response.status_code == 200
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).status_code == 401
    listed = await client.get(f"/admin/users/{alice_id}/sessions", headers=bearer(admin.access))
    assert listed.json()["sessions"] == []
    # The admin's own session is untouched.
    assert (await admin.get("/session")).status_code == 200
    missing = await client.post(f"/admin/users/{uuid.uuid4()}/revoke", headers=bearer(admin.access))
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


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


async def test_an_admin_path_names_a_user_by_id_never_by_a_username(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    """A username shaped like an id is still a username: the path never falls back to it."""
    admin, _ = await admin_and_alice(client, make_user)
    lookalike = str(uuid.uuid4())
    make_user(lookalike)
    for name in ("alice", lookalike):
        response = await client.post(f"/admin/users/{name}/disable", headers=bearer(admin.access))
        assert response.status_code == 404 and response.json()["error"] == "not_found", name
    assert [row.disabled for row in db_query("SELECT disabled FROM users")] == [False] * 3
    # The id, found by the exact username, is how a script names the account.
    found = await client.get(f"/admin/users?username={lookalike}", headers=bearer(admin.access))
    [listed] = found.json()["users"]
    assert listed["username"] == lookalike and listed["id"] == user_id(db_query, lookalike)
    response = await client.post(
        f"/admin/users/{listed['id']}/disable", headers=bearer(admin.access)
    )
    assert response.status_code == 200 and response.json()["username"] == lookalike


async def test_the_cli_names_a_user_by_username_or_by_explicit_id(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str, db_query: DbQuery
) -> None:
    """`users disable X` means the user named X, even when X is another user's id."""
    alice_id = make_user()
    mallory_id = make_user(alice_id)  # a username that is alice's id

    by_name = cli(database_url, "users", "disable", alice_id)

    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["id"] == mallory_id
    disabled = {row.id: row.disabled for row in db_query("SELECT id, disabled FROM users")}
    assert disabled == {alice_id: False, mallory_id: True}
    by_id = cli(database_url, "users", "disable", "--id", alice_id)
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.stdout) == {"id": alice_id, "username": "alice", "disabled": True}
    sessions = cli(database_url, "sessions", "list", "--id", mallory_id)
    assert json.loads(sessions.stdout)["user"] == mallory_id
    for args in (("users", "revoke"), ("users", "revoke", "alice", "--id", alice_id)):
        refused = cli(database_url, *args)
        assert refused.exit_code == 1, args
        assert "give a username or --id" in refused.stderr, args
    unknown = cli(database_url, "users", "disable", "--id", "alice")
    assert unknown.exit_code == 1 and "No such user" in unknown.stderr
