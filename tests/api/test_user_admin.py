"""Operators govern accounts over the admin API and the CLI alike: list, set a password, change
roles, delete; every change of who a user is or what they may do revokes their tokens."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx

from tests.helpers.cli import cli
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device, assert_revoked_by_another_process

NEW_PASSWORD = "a brand new passphrase"


def user_id_of(db_query: DbQuery, username: str) -> str:
    [row] = db_query("SELECT id FROM users WHERE username = :name", name=username)
    return str(row.id)


def detail_of(value: object) -> dict[str, object]:
    """An audit event's detail read with plain SQL: text on SQLite, decoded on PostgreSQL."""
    decoded = json.loads(value) if isinstance(value, str) else value
    assert isinstance(decoded, dict)
    return decoded


def user_id_of_response(response: httpx.Response) -> str:
    return str(response.json()["user"]["id"])


async def eventually(check: Callable[[], Awaitable[bool]], *, what: str) -> None:
    """Poll an in-process condition that a listener thread makes true (a push, a metric)."""
    deadline = time.monotonic() + 10
    while not await check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


async def metric_line(client: httpx.AsyncClient, line: str) -> None:
    async def shown() -> bool:
        return line in (await client.get("/metrics")).text

    await eventually(shown, what=f"/metrics showing {line!r}")


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
    assert await names(query="a\x00") == await names(username="\x00") == []
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
    alice_id = make_user(email="Alice@Example.com", email_verified=True)
    make_user("bob", roles=["admin", "ops"], email="bob@example.org")

    listed = cli(database_url, "users", "list", "--json")

    assert listed.exit_code == 0, listed.output
    users = json.loads(listed.stdout)
    assert [(user["username"], user["roles"]) for user in users] == [
        ("alice", []),
        ("bob", ["admin", "ops"]),
    ]
    assert users[0]["id"] == alice_id and users[0]["disabled"] is False
    assert (users[0]["email"], users[0]["email_verified"]) == ("Alice@example.com", True)
    table = cli(database_url, "users", "list", "--query", "BO")
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "USERNAME", "EMAIL", "ROLES", "STATE", "CREATED"]
    # An unconfirmed address is marked.
    assert len(rows) == 1
    assert rows[0].split()[1:6] == ["bob", "bob@example.org", "(?)", "admin,ops", "active"]
    by_address = cli(database_url, "users", "list", "--json", "--query", "EXAMPLE.COM")
    assert [user["username"] for user in json.loads(by_address.stdout)] == ["alice"]


async def test_an_admin_sets_a_password_under_the_policy_and_every_session_ends(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    admin = await signed_in_admin(client, make_user)
    alice_id = make_user()
    alice = Device(client)
    await alice.login()
    path = f"/admin/users/{alice_id}/password"

    weak = await client.post(path, json={"password": "password123"}, headers=bearer(admin.access))
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
    assert (await alice.get("/session")).status_code == 200
    done = await client.post(path, json={"password": NEW_PASSWORD}, headers=bearer(admin.access))

    assert done.status_code == 200 and done.json()["id"] == alice_id
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).json()["error"] == "invalid_refresh_token"
    old = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert new.status_code == 200
    [event] = db_query("SELECT user_id, detail FROM audit_events WHERE event = 'password_set'")
    assert event.user_id == alice_id
    assert detail_of(event.detail)["actor"] == user_id_of(db_query, "root")
    assert (await admin.get("/session")).status_code == 200


async def test_concurrent_roles_changes_are_audited_as_one_chain_ending_in_the_stored_roles(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    """Each change reads the roles it replaces under the user's row lock: replayed in order, the
    audit's added and removed roles lead from the first roles to the stored ones, every answer
    names the roles its change left, and no change is skipped as a no-op against stale roles."""
    admin = await signed_in_admin(client, make_user)
    alice_id = make_user(roles=["reader"])
    path = f"/admin/users/{alice_id}/roles"
    wanted = [["editor"], ["reader"], ["ops"], ["editor", "ops"]] * 3
    answers = await asyncio.gather(
        *(client.put(path, json={"roles": roles}, headers=bearer(admin.access)) for roles in wanted)
    )
    for roles, answer in zip(wanted, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.json()["roles"] == sorted(roles)
    current = {"reader"}
    events = db_query(
        "SELECT detail FROM audit_events WHERE event = 'user_roles_changed' ORDER BY id"
    )
    assert events
    for event in events:
        detail = detail_of(event.detail)
        added, removed = set(detail["added"]), set(detail["removed"])  # type: ignore[call-overload]
        assert removed <= current and not added & current, (current, detail)
        current = (current - removed) | added
    [stored] = db_query("SELECT roles FROM users WHERE username = 'alice'")
    stored_roles = json.loads(stored.roles) if isinstance(stored.roles, str) else stored.roles
    assert set(stored_roles) == current


async def test_a_roles_change_refuses_old_tokens_and_the_next_refresh_carries_the_new_roles(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await signed_in_admin(client, make_user)
    alice_id = make_user(roles=["reader"])
    alice = Device(client)
    await alice.login()
    path = f"/admin/users/{alice_id}/roles"

    bad = await client.put(path, json={"roles": ["ok", "not ok"]}, headers=bearer(admin.access))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    changed = await client.put(
        path, json={"roles": ["editor", "reader", "editor"]}, headers=bearer(admin.access)
    )

    assert changed.status_code == 200 and changed.json()["roles"] == ["editor", "reader"]
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    refreshed = await alice.refresh_now()
    assert refreshed.status_code == 200 and refreshed.json()["user"]["roles"] == [
        "editor",
        "reader",
    ]
    assert (await alice.get("/session")).json()["user"]["roles"] == ["editor", "reader"]
    # The same roles again change nothing, so nothing is revoked.
    same = await client.put(
        path, json={"roles": ["reader", "editor"]}, headers=bearer(admin.access)
    )
    assert same.status_code == 200
    assert (await alice.get("/session")).status_code == 200
    # Taking the admin role away refuses the admin API at once.
    root_id = user_id_of_response(await admin.get("/session"))
    demoted = await client.put(
        f"/admin/users/{root_id}/roles", json={"roles": []}, headers=bearer(admin.access)
    )
    assert demoted.status_code == 200
    await admin.refresh_now()
    refused = await client.get("/admin/users", headers=bearer(admin.access))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


async def test_the_identity_memo_follows_a_roles_change_pushed_through_redis(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser, redis_url: str
) -> None:
    """With the token-version cache on, `GET /session` answers from a memo of identities; a roles
    change made on one instance reaches the memo of every other one through the bump's push."""
    settings = make_settings(token_version_cache="redis", redis_url=redis_url)
    root_id = make_user("root", roles=["admin"])
    alice_id = make_user(roles=["reader"])
    async with client_factory(settings) as first, client_factory(settings) as second:
        for instance in (first, second):
            await metric_line(instance, "authsvc_token_version_cache_trusted 1.0")
        admin, alice = Device(first), Device(first)
        await admin.login("root")
        await alice.login()
        # The second instance remembers alice as a reader.
        seen = await second.get("/session", headers=bearer(alice.access))
        assert seen.json()["user"]["roles"] == ["reader"]

        changed = await first.put(
            f"/admin/users/{alice_id}/roles",
            json={"roles": ["editor"]},
            headers=bearer(admin.access),
        )
        assert changed.status_code == 200

        async def refused_on_second() -> bool:
            answer = await second.get("/session", headers=bearer(alice.access))
            return bool(answer.json().get("error") == "token_revoked")

        await eventually(refused_on_second, what="the old token refused on the other instance")
        assert (await alice.refresh_now()).status_code == 200
        answer = await second.get("/session", headers=bearer(alice.access))
        assert answer.status_code == 200 and answer.json()["user"]["roles"] == ["editor"]
        assert root_id != alice_id


async def test_a_deleted_user_is_gone_with_their_sessions_and_the_audit_trail_forgets_them(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    admin = await signed_in_admin(client, make_user)
    alice_id = make_user()
    alice = Device(client)
    await alice.login()
    await alice.login(user_agent="phone")
    assert len(db_query("SELECT id FROM sessions WHERE user_id = :id", id=alice_id)) == 2

    deleted = await client.delete(f"/admin/users/{alice_id}", headers=bearer(admin.access))

    assert deleted.status_code == 204 and deleted.content == b""
    assert (await alice.get("/session")).json()["error"] == "token_revoked"
    assert (await alice.refresh_now()).json()["error"] == "invalid_refresh_token"
    assert db_query("SELECT id FROM users WHERE id = :id", id=alice_id) == []
    assert db_query("SELECT id FROM sessions WHERE user_id = :id", id=alice_id) == []
    again = await client.delete(f"/admin/users/{alice_id}", headers=bearer(admin.access))
    assert again.status_code == 404
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    events = db_query("SELECT event, user_id, detail FROM audit_events ORDER BY id")
    assert not [row for row in events if alice_id in f"{row.user_id} {row.detail}"]
    [gone] = [row for row in events if row.event == "user_deleted"]
    assert gone.user_id.startswith("deleted-") and len(gone.user_id) == 36
    logins = [row.user_id for row in events if row.event == "login_success"]
    assert logins.count(gone.user_id) == 2
    assert detail_of(gone.detail)["actor"] == user_id_of(db_query, "root")


async def test_an_admin_deleting_their_own_account_leaves_no_id_behind(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    admin = await signed_in_admin(client, make_user)
    root_id = user_id_of(db_query, "root")
    alice_id = make_user()
    disabled = await client.post(f"/admin/users/{alice_id}/disable", headers=bearer(admin.access))
    assert disabled.status_code == 200
    deleted = await client.delete(f"/admin/users/{root_id}", headers=bearer(admin.access))
    assert deleted.status_code == 204
    assert (await admin.get("/session")).json()["error"] == "token_revoked"
    events = db_query("SELECT event, user_id, detail FROM audit_events ORDER BY id")
    assert not [row for row in events if root_id in f"{row.user_id} {row.detail}"]
    [gone] = [row for row in events if row.event == "user_deleted"]
    [disabling] = [row for row in events if row.event == "user_disabled"]
    # What the deleted admin did to alice is kept, under the same pseudonym.
    assert disabling.user_id == alice_id
    assert detail_of(disabling.detail)["actor"] == gone.user_id == detail_of(gone.detail)["actor"]


async def test_the_cli_sets_passwords_changes_roles_and_deletes_users(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str, db_query: DbQuery
) -> None:
    alice_id = make_user(roles=["reader"])
    alice = Device(client)
    await alice.login()

    weak = cli(
        database_url, "users", "set-password", "alice", "--password-stdin", stdin="alice1234\n"
    )
    assert weak.exit_code == 1 and "error:" in weak.stderr
    assert (await alice.get("/session")).status_code == 200
    done = cli(
        database_url,
        "users",
        "set-password",
        "alice",
        "--password-stdin",
        stdin=NEW_PASSWORD + "\n",
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"id": alice_id, "username": "alice", "password_set": True}
    await assert_revoked_by_another_process(alice, database_url)
    assert (await alice.refresh_now()).status_code == 401
    relogin = await client.post("/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert relogin.status_code == 200
    alice.remember(relogin)

    roles = cli(database_url, "users", "roles", "alice", "--add", "editor", "--remove", "reader")
    assert roles.exit_code == 0, roles.output
    assert json.loads(roles.stdout)["roles"] == ["editor"]
    await assert_revoked_by_another_process(alice, database_url)
    assert (await alice.refresh_now()).json()["user"]["roles"] == ["editor"]
    shown = cli(database_url, "users", "roles", "--id", alice_id)
    assert json.loads(shown.stdout) == {
        "id": alice_id,
        "username": "alice",
        "roles": ["editor"],
        "changed": False,
    }
    both = cli(database_url, "users", "roles", "alice", "--add", "x", "--remove", "x")
    assert both.exit_code == 1 and "both added and removed" in both.stderr

    kept = cli(database_url, "users", "delete", "alice", stdin="n\n")
    assert kept.exit_code == 1
    assert len(db_query("SELECT id FROM users WHERE id = :id", id=alice_id)) == 1
    deleted = cli(database_url, "users", "delete", "alice", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.stdout) == {"id": alice_id, "username": "alice", "deleted": True}
    assert db_query("SELECT id FROM users WHERE id = :id", id=alice_id) == []
    await assert_revoked_by_another_process(alice, database_url)
    events = [row.event for row in db_query("SELECT event FROM audit_events")]
    assert {"password_set", "user_roles_changed", "user_deleted"} <= set(events)
