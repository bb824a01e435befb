"""Every page form that hashes a password waits for a hashing slot like the JSON routes do, and
when none frees in time it shows a page saying when to come back (503, Retry-After), changing
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from authsvc.config import Settings
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.hashing import HoldingHasher, slot_held
from tests.helpers.mail import MailServer, token_in
from tests.helpers.pages import sign_in_through_page, submit

NEW_PASSWORD = "a brand new passphrase"
BUSY = "busy right now. Try again in 1 s."

# Opens the page and returns (the page, the form's action, the fields to submit).
PageForm = Callable[
    [httpx.AsyncClient, MailServer], Awaitable[tuple[httpx.Response, str, dict[str, str]]]
]


async def account_password_form(
    client: httpx.AsyncClient, _mail: MailServer
) -> tuple[httpx.Response, str, dict[str, str]]:
    assert (await sign_in_through_page(client)).status_code == 303
    page = await client.get("/ui/account")
    fields = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return page, "/ui/account/password", fields


async def register_form(
    client: httpx.AsyncClient, _mail: MailServer
) -> tuple[httpx.Response, str, dict[str, str]]:
    page = await client.get("/ui/register")
    return page, "/ui/register", {"username": "eve", "password": NEW_PASSWORD}


async def reset_form(
    client: httpx.AsyncClient, mail: MailServer
) -> tuple[httpx.Response, str, dict[str, str]]:
    forgot = await client.get("/ui/forgot")
    assert (await submit(client, forgot, "/ui/forgot", {"login": "alice"})).status_code == 303
    token = token_in(mail.inbox.wait_for(1)[0], "/ui/reset")
    page = await client.get("/ui/reset", params={"token": token})
    assert page.status_code == 200, page.text
    return page, "/ui/reset", {"token": token, "username": "alice", "new_password": NEW_PASSWORD}


@pytest.mark.parametrize("open_form", [account_password_form, register_form, reset_form])
async def test_a_page_form_beyond_the_bound_says_when_to_come_back_and_changes_nothing(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    mail: MailServer,
    db_query: DbQuery,
    open_form: PageForm,
) -> None:
    alice_id = make_user(email="alice@example.com")
    settings: Settings = make_settings(
        **mail.settings(),
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        registration="open",
    )
    (before,) = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    hasher = HoldingHasher()
    async with client_factory(settings, hasher=hasher, browser=False) as client:
        page, action, fields = await open_form(client, mail)
        async with slot_held(client, hasher):
            answer = await submit(client, page, action, fields)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("text/html")
    assert BUSY in answer.text
    (after,) = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    assert after.password_hash == before.password_hash
    assert db_query("SELECT id FROM users WHERE username = 'eve'") == []


async def test_a_throttled_sign_in_gets_its_429_page_without_waiting_for_a_slot(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """As for POST /login: a sign-in the throttle refuses never queues for a hashing slot."""
    make_user()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=1,
        password_hashing_wait_seconds=30,
        login_limit_client_account="2/hour",
    )
    hasher = HoldingHasher()
    async with client_factory(settings, hasher=hasher, browser=False) as client:
        for _ in range(2):
            wrong = await sign_in_through_page(client, password="not the password")
            assert wrong.status_code == 401, wrong.text
        page = await client.get("/ui/login")
        async with slot_held(client, hasher):
            # Queued, it would wait the full 30 s for the slot the test holds.
            refused = await asyncio.wait_for(
                submit(client, page, "/ui/login", {"username": "alice", "password": "guess"}),
                timeout=10,
            )
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert "Too many failed attempts" in refused.text


async def test_a_sign_in_with_no_room_for_hashing_gets_the_busy_page_before_the_throttle(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """As for POST /login: with no slot and no place in the queue, the busy page at once."""
    make_user()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        login_limit_client_account="2/hour",
    )
    hasher = HoldingHasher()
    async with client_factory(settings, hasher=hasher, browser=False) as client:
        for _ in range(2):
            wrong = await sign_in_through_page(client, password="not the password")
            assert wrong.status_code == 401, wrong.text
        page = await client.get("/ui/login")
        async with slot_held(client, hasher):
            refused = await submit(
                client, page, "/ui/login", {"username": "alice", "password": "guess"}
            )
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert BUSY in refused.text


async def test_a_throttled_sign_up_gets_its_429_page_without_waiting_for_a_slot(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    settings = make_settings(
        registration="open",
        register_limit_client="1/hour",
        password_hashing_workers=1,
        password_hashing_queue=1,
        password_hashing_wait_seconds=30,
    )
    hasher = HoldingHasher()
    async with client_factory(settings, hasher=hasher, browser=False) as client:
        page = await client.get("/ui/register")
        fields = {"username": "eve", "password": NEW_PASSWORD}
        assert (await submit(client, page, "/ui/register", fields)).status_code == 303
        client.cookies.clear()
        page = await client.get("/ui/register")
        async with slot_held(client, hasher):
            refused = await asyncio.wait_for(
                submit(client, page, "/ui/register", {**fields, "username": "mallory"}),
                timeout=10,
            )
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many sign-ups from your network" in refused.text
