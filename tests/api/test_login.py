"""POST /login: cookies, bodies, and the same answer for every kind of wrong."""

from __future__ import annotations

import asyncio
import threading

import httpx
import jwt

from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher, Verification
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import access_set_cookie, parse_set_cookie
from tests.helpers.database import execute
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser


async def test_json_login_sets_an_httponly_lax_cookie_and_returns_user_and_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user(roles=["reader"])

    response = await client.post("/login", json={"username": "alice", "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {"id": user_id, "username": "alice", "roles": ["reader"]}
    assert body["session"]["id"]
    assert "access_token" not in body
    name, token, attributes = parse_set_cookie(access_set_cookie(response))
    assert name == "authsvc_at"
    assert attributes["httponly"] == "True"
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == "900"
    assert attributes["secure"] == "False"  # AUTHSVC_COOKIE_SECURE=false in this test
    assert response.headers["cache-control"] == "no-store"
    assert token not in response.text


async def test_the_token_carries_the_contracted_header_and_claims(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    user_id = make_user(roles=["admin"])
    response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    token = response.cookies["authsvc_at"]

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})

    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    assert claims["iss"] == "http://authsvc.test"
    assert claims["aud"] == "authsvc"
    assert claims["sub"] == user_id
    assert claims["sid"] == response.json()["session"]["id"]
    assert claims["tv"] == 0
    assert claims["roles"] == ["admin"]
    assert claims["sess"] == {}
    assert claims["iat"] == claims["nbf"] == int(clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + 900
    assert len(claims["jti"]) >= 16


async def test_form_login_works_like_json(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    make_user()
    response = await client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "remember": "on"}
    )
    assert response.status_code == 200, response.text
    assert "authsvc_at" in response.cookies


async def test_usernames_are_case_insensitive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user("Alice")
    response = await client.post("/login", json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200


async def test_wrong_password_unknown_user_and_disabled_user_get_the_same_401(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    make_user("alice")
    make_user("carol")
    execute(database_url, "UPDATE users SET disabled = true WHERE username = 'carol'")

    wrong = await client.post("/login", json={"username": "alice", "password": "nope-nope"})
    unknown = await client.post("/login", json={"username": "bob", "password": "nope-nope"})
    disabled = await client.post("/login", json={"username": "carol", "password": PASSWORD})

    for response in (wrong, unknown, disabled):
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_credentials",
            "detail": "Invalid username or password.",
        }
        assert "set-cookie" not in response.headers
    assert wrong.content == unknown.content == disabled.content


async def test_unknown_user_is_verified_against_a_dummy_hash(
    client_factory: ClientFactory, settings: Settings
) -> None:
    """The time of a real verification is spent even when the user does not exist."""
    calls: list[str] = []

    class CountingHasher(Argon2Hasher):
        def verify_dummy(self, password: str) -> None:
            calls.append(password)
            super().verify_dummy(password)

    hasher = CountingHasher(memory_cost=1024, time_cost=1)
    async with client_factory(settings, hasher=hasher) as client:
        response = await client.post("/login", json={"username": "ghost", "password": "x" * 9})
    assert response.status_code == 401
    assert calls == ["x" * 9]


async def test_logins_and_failures_are_audited_without_secrets(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    user_id = make_user()
    await client.post("/login", json={"username": "alice", "password": "wrong-password"})
    await client.post(
        "/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"user-agent": "pytest-agent"},
    )

    rows = db_query(
        "SELECT event, user_id, user_agent, detail FROM audit_events "
        "WHERE event LIKE 'login%' ORDER BY id"
    )
    assert [(row.event, row.user_id) for row in rows] == [
        ("login_failure", user_id),
        ("login_success", user_id),
    ]
    assert rows[1].user_agent == "pytest-agent"
    assert PASSWORD not in str(rows) and "wrong-password" not in str(rows)


async def test_token_in_body_only_when_configured(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(make_settings(expose_token_in_body=True)) as client:
        response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.json()["access_token"] == response.cookies["authsvc_at"]


async def test_an_old_hash_is_upgraded_on_the_next_successful_login(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    weak = Argon2Hasher(memory_cost=1024, time_cost=1)
    make_user()  # made by the fixture's cheap hasher
    before = db_query("SELECT password_hash FROM users")[0].password_hash
    assert "m=1024,t=1" in before

    owasp = Argon2Hasher()  # the production parameters
    async with client_factory(settings, hasher=owasp) as client:
        response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200

    after = db_query("SELECT password_hash FROM users")[0].password_hash
    assert after.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert weak.verify(PASSWORD, after).ok


async def test_password_hashing_runs_off_the_event_loop(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    """While one login's verification is blocked, the same app still answers other requests."""
    make_user()
    entered, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []

    class BlockingHasher(Argon2Hasher):
        def verify(self, password: str, stored_hash: str) -> Verification:
            entered.set()
            # On the event loop, nothing could set `release` while this waits: it times out.
            released_in_time.append(release.wait(timeout=10))
            return super().verify(password, stored_hash)

    hasher = BlockingHasher(memory_cost=1024, time_cost=1)
    async with client_factory(settings, hasher=hasher) as client:
        login = asyncio.create_task(
            client.post("/login", json={"username": "alice", "password": PASSWORD})
        )
        await asyncio.to_thread(entered.wait, 30)
        # Were hashing on the event loop, this request could not be served until release.
        health = await asyncio.wait_for(client.get("/healthz"), timeout=10)
        release.set()
        assert health.status_code == 200
        assert (await login).status_code == 200
    assert released_in_time == [True]
