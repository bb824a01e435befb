"""Operators govern accounts over the admin API and the CLI alike: list, set a password, change
roles, delete; every change of who a user is or what they may do revokes their tokens."""

from __future__ import annotations

import json

import httpx

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.fixture_types import MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device


async def signed_in_admin(client: httpx.AsyncClient, make_user: MakeUser) -> Device:
    make_user("root", roles=["admin"])
    admin = Device(client)
    await admin.login("root")
    return admin


async def test_users_are_listed_page_by_page_in_a_stable_order(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await signed_in_admin(client, make_user)
    for name in ("erin", "bob", "Dave", "carol", "alice"):
        make_user(name)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await client.get("/admin/users", params=params, headers=bearer(admin.access))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["users"]) <= 2
        seen += [user["username"] for user in body["users"]]
        if seen == ["alice", "bob"]:
            # Added behind the cursor: keyset pagination neither repeats nor skips anyone.
            make_user("aaron")
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["alice", "bob", "carol", "dave", "erin", "root"]
    first = (await client.get("/admin/users", headers=bearer(admin.access))).json()
    assert first["next_cursor"] is None
    assert [user["username"] for user in first["users"]][:2] == ["aaron", "alice"]
    assert set(first["users"][0]) >= {"id", "username", "roles", "disabled", "created_at"}


async def test_users_are_found_by_part_of_the_username_or_exactly(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await signed_in_admin(client, make_user)
    for name in ("alice", "malice", "bob", "a%ce"):
        make_user(name)

    async def names(**params: str) -> list[str]:
        response = await client.get("/admin/users", params=params, headers=bearer(admin.access))
        assert response.status_code == 200, response.text
        return [user["username"] for user in response.json()["users"]]

    assert await names(query="LIC") == ["alice", "malice"]
    # LIKE wildcards in the text are only text.
    assert await names(query="%") == ["a%ce"]
    assert await names(username="ALICE") == ["alice"]
    assert await names(username="lic") == []
    bad = await client.get("/admin/users?cursor=%FF%FE", headers=bearer(admin.access))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    too_many = await client.get("/admin/users?limit=201", headers=bearer(admin.access))
    assert too_many.status_code == 400


async def test_listing_users_needs_the_admin_role(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    alice = Device(client)
    await alice.login()
    refused = await client.get("/admin/users", headers=bearer(alice.access))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    client.cookies.clear()
    anonymous = await client.get("/admin/users")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"


def test_the_cli_lists_users_as_a_table_or_as_json(make_user: MakeUser, database_url: str) -> None:
    alice_id = make_user()
    make_user("bob", roles=["admin", "ops"])
    env = cli_env(database_url)

    listed = run_cli("users", "list", "--json", env=env)

    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)
    assert [(user["username"], user["roles"]) for user in users] == [
        ("alice", []),
        ("bob", ["admin", "ops"]),
    ]
    assert users[0]["id"] == alice_id and users[0]["disabled"] is False
    table = run_cli("users", "list", "--query", "BO", env=env)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "USERNAME", "ROLES", "STATE", "CREATED"]
    assert len(rows) == 1 and rows[0].split()[1:4] == ["bob", "admin,ops", "active"]
