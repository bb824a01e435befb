"""Changes of an account that overlap another change: a password change, an address change, a
reset link, an operator's new password and a refresh in its grace period each re-check the
account under the user row's lock, so the change that committed first wins and nothing the later
one would have renewed stays alive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from authsvc.config import Settings
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.hashing import GatedHasher, held_inside_hashing
from tests.helpers.headers import bearer
from tests.helpers.login import post_login
from tests.helpers.mail import MailServer, token_in
from tests.helpers.sessions import Device, refresh_with
from tests.helpers.statements import held_at_statement

ADMINS_PASSWORD = "an operator's passphrase"
USERS_PASSWORD = "the user's own passphrase"


@pytest.fixture
def gated() -> GatedHasher:
    return GatedHasher()


@pytest.fixture
async def gated_client(
    client_factory: ClientFactory, make_settings: MakeSettings, gated: GatedHasher
) -> AsyncIterator[httpx.AsyncClient]:
    # Slots enough for the held request and the change beside it, whatever the machine's cores.
    async with client_factory(make_settings(password_hashing_workers=4), hasher=gated) as client:
        yield client


async def admin(client: httpx.AsyncClient, make_user: MakeUser) -> Device:
    make_user("root", roles=["admin"])
    device = Device(client)
    await device.login("root")
    return device


async def set_password_as_admin(
    client: httpx.AsyncClient, root: Device, user_id: str
) -> httpx.Response:
    return await client.post(
        f"/admin/users/{user_id}/password",
        json={"password": ADMINS_PASSWORD},
        headers=bearer(root.access),
    )


def alive_sessions_of(db_query: DbQuery, user_id: str) -> set[str]:
    rows = db_query("SELECT id FROM sessions WHERE user_id = :id AND ended_at IS NULL", id=user_id)
    return {str(row.id) for row in rows}


async def signs_in_with(client: httpx.AsyncClient, password: str) -> bool:
    response = await post_login(client, password=password, headers=bearer("not-a-token"))
    return response.status_code == 200


async def test_a_password_change_overlapping_a_logout_everywhere_is_refused(
    gated_client: httpx.AsyncClient, gated: GatedHasher, make_user: MakeUser, db_query: DbQuery
) -> None:
    alice_id = make_user()
    phone, laptop = Device(gated_client), Device(gated_client)
    await phone.login()
    await laptop.login()

    change = gated_client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": USERS_PASSWORD},
        headers=bearer(laptop.access),
    )
    async with held_inside_hashing(gated, change) as held:
        logout = await gated_client.post("/logout?everywhere=true", headers=bearer(phone.access))
        assert logout.status_code == 200, logout.text
    refused = await held

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "token_revoked"
    assert alive_sessions_of(db_query, alice_id) == set()
    assert await signs_in_with(gated_client, PASSWORD)
    assert not await signs_in_with(gated_client, USERS_PASSWORD)


async def test_a_password_change_never_overwrites_an_operators_new_password(
    gated_client: httpx.AsyncClient, gated: GatedHasher, make_user: MakeUser, db_query: DbQuery
) -> None:
    root = await admin(gated_client, make_user)
    alice_id = make_user()
    laptop = Device(gated_client)
    await laptop.login()

    change = gated_client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": USERS_PASSWORD},
        headers=bearer(laptop.access),
    )
    async with held_inside_hashing(gated, change) as held:
        assert (await set_password_as_admin(gated_client, root, alice_id)).status_code == 200
    refused = await held

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "token_revoked"
    assert alive_sessions_of(db_query, alice_id) == set()
    assert await signs_in_with(gated_client, ADMINS_PASSWORD)
    assert not await signs_in_with(gated_client, USERS_PASSWORD)


async def test_an_address_change_overlapping_a_disable_is_refused(
    gated_client: httpx.AsyncClient, gated: GatedHasher, make_user: MakeUser, db_query: DbQuery
) -> None:
    root = await admin(gated_client, make_user)
    alice_id = make_user(email="alice@example.org")
    laptop = Device(gated_client)
    await laptop.login()

    change = gated_client.patch(
        "/account",
        json={"current_password": PASSWORD, "email": "mallory@example.org"},
        headers=bearer(laptop.access),
    )
    async with held_inside_hashing(gated, change) as held:
        disabled = await gated_client.post(
            f"/admin/users/{alice_id}/disable", headers=bearer(root.access)
        )
        assert disabled.status_code == 200, disabled.text
    refused = await held

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "token_revoked"
    [row] = db_query("SELECT email FROM users WHERE id = :id", id=alice_id)
    assert row.email == "alice@example.org"
    assert alive_sessions_of(db_query, alice_id) == set()


async def test_an_operators_new_password_for_a_user_deleted_meanwhile_is_not_found(
    gated_client: httpx.AsyncClient, gated: GatedHasher, make_user: MakeUser
) -> None:
    root = await admin(gated_client, make_user)
    alice_id = make_user()

    async with held_inside_hashing(
        gated, set_password_as_admin(gated_client, root, alice_id)
    ) as held:
        deleted = await gated_client.delete(f"/admin/users/{alice_id}", headers=bearer(root.access))
        assert deleted.status_code == 204, deleted.text
    refused = await held

    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == "not_found"


async def test_a_reset_link_used_while_an_operator_sets_a_password_is_dead(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    gated = GatedHasher()
    settings = make_settings(**mail.settings(), password_hashing_workers=4)
    alice_id = make_user(email="alice@example.org")
    async with client_factory(settings, hasher=gated) as client:
        root = await admin(client, make_user)
        assert (await client.post("/password/forgot", json={"login": "alice"})).status_code == 202
        [message] = mail.inbox.wait_for(1)
        token = token_in(message, "/ui/reset")

        reset = client.post(
            "/password/reset", json={"token": token, "new_password": USERS_PASSWORD}
        )
        async with held_inside_hashing(gated, reset) as held:
            assert (await set_password_as_admin(client, root, alice_id)).status_code == 200
        refused = await held

        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_link_token"
        assert await signs_in_with(client, ADMINS_PASSWORD)
        assert not await signs_in_with(client, USERS_PASSWORD)


# SQLite holds its write lock from the refresh's first statement on, so a logout cannot commit
# inside the grace path there: the overlap exists on PostgreSQL only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_refresh_in_its_grace_period_overlapping_a_logout_everywhere_is_refused(
    settings: Settings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    alice_id = make_user()
    async with client_factory(settings) as client:
        phone = Device(client)
        await phone.login()
        earlier = phone.refresh
        assert (await phone.refresh_now()).status_code == 200
        # The token just rotated, presented again within the grace period (the other tab).
        with held_at_statement("JOIN rotated_refresh_tokens") as (entered, gate):
            tab = asyncio.create_task(refresh_with(client, earlier))
            assert await asyncio.to_thread(entered.wait, 30)
            logout = await client.post("/logout?everywhere=true", headers=bearer(phone.access))
            assert logout.status_code == 200, logout.text
            gate.set()
            refused = await tab

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "refresh_token_reused"
    assert alive_sessions_of(db_query, alice_id) == set()
