"""A login whose password check overlaps a change of the account: the change wins, and the login
leaves no session behind (the hasher stops the login inside its verification meanwhile)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.hashing import GatedHasher, held_inside_hashing
from tests.helpers.headers import bearer
from tests.helpers.login import post_login
from tests.helpers.sessions import Device

NEW_PASSWORD = "a brand new passphrase"
# Sent with the held login: an API client (no CSRF check), and no session of this browser to
# replace, whatever cookies the client holds by then.
AS_API_CLIENT = bearer("not-a-token")
WRONG_PASSWORD = "Invalid username or password."
SIGN_IN_AGAIN = (
    "The account was signed out everywhere while this sign-in was checked; sign in again."
)


@dataclass
class Accounts:
    client: httpx.AsyncClient
    admin: Device
    alice: Device
    alice_id: str


Change = Callable[[Accounts], Awaitable[httpx.Response]]


async def admin_sets_a_password(accounts: Accounts) -> httpx.Response:
    return await accounts.client.post(
        f"/admin/users/{accounts.alice_id}/password",
        json={"password": NEW_PASSWORD},
        headers=bearer(accounts.admin.access),
    )


async def alice_changes_her_password(accounts: Accounts) -> httpx.Response:
    return await accounts.client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(accounts.alice.access),
    )


async def alice_logs_out_everywhere(accounts: Accounts) -> httpx.Response:
    return await accounts.client.post(
        "/logout?everywhere=true", headers=bearer(accounts.alice.access)
    )


async def admin_disables(accounts: Accounts) -> httpx.Response:
    return await accounts.client.post(
        f"/admin/users/{accounts.alice_id}/disable", headers=bearer(accounts.admin.access)
    )


async def admin_revokes(accounts: Accounts) -> httpx.Response:
    return await accounts.client.post(
        f"/admin/users/{accounts.alice_id}/revoke", headers=bearer(accounts.admin.access)
    )


@pytest.fixture
def gated() -> GatedHasher:
    return GatedHasher()


@pytest.fixture
async def gated_client(
    client_factory: ClientFactory, make_settings: MakeSettings, gated: GatedHasher
) -> AsyncIterator[httpx.AsyncClient]:
    # Slots enough for the held login and the change beside it, whatever the machine's cores.
    settings = make_settings(password_hashing_workers=4)
    async with client_factory(settings, hasher=gated) as client:
        yield client


async def signed_in(client: httpx.AsyncClient, make_user: MakeUser) -> Accounts:
    make_user("root", roles=["admin"])
    alice_id = make_user()
    admin, alice = Device(client), Device(client)
    await admin.login("root")
    await alice.login()
    return Accounts(client, admin, alice, alice_id)


def sessions_of(db_query: DbQuery, user_id: str) -> set[str]:
    rows = db_query("SELECT id FROM sessions WHERE user_id = :id", id=user_id)
    return {str(row.id) for row in rows}


def alive_sessions_of(db_query: DbQuery, user_id: str) -> set[str]:
    rows = db_query("SELECT id FROM sessions WHERE user_id = :id AND ended_at IS NULL", id=user_id)
    return {str(row.id) for row in rows}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        # The password given is no longer the account's, or the account is closed: the answer
        # to a wrong password, which tells the holder of an old password nothing.
        (admin_sets_a_password, WRONG_PASSWORD),
        (alice_changes_her_password, WRONG_PASSWORD),
        (admin_disables, WRONG_PASSWORD),
        # The password is right and current: the answer says what happened.
        (alice_logs_out_everywhere, SIGN_IN_AGAIN),
        (admin_revokes, SIGN_IN_AGAIN),
    ],
)
async def test_a_change_committed_during_the_password_check_refuses_the_login(
    gated_client: httpx.AsyncClient,
    gated: GatedHasher,
    make_user: MakeUser,
    db_query: DbQuery,
    change: Change,
    detail: str,
) -> None:
    accounts = await signed_in(gated_client, make_user)
    before = sessions_of(db_query, accounts.alice_id)

    login = post_login(gated_client, headers=AS_API_CLIENT)
    async with held_inside_hashing(gated, login) as held:
        changed = await change(accounts)
        assert changed.status_code == 200, changed.text
    refused = await held

    assert refused.status_code == 401, refused.text
    assert refused.json() == {"error": "invalid_credentials", "detail": detail}
    assert "set-cookie" not in refused.headers
    # No session row was written, so no refresh token of the login can mint anything later.
    assert sessions_of(db_query, accounts.alice_id) == before
    assert alive_sessions_of(db_query, accounts.alice_id) <= before


async def test_a_rehash_never_writes_the_old_password_over_a_new_one(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    # Stronger parameters than the users were made with: alice's hash is due for a rehash at
    # her next login, which is the held one.
    gated = GatedHasher(memory_cost=2048)
    settings = make_settings(password_hashing_workers=4)
    make_user("root", roles=["admin"])
    alice_id = make_user()
    [(outdated,)] = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    assert "m=1024," in outdated
    async with client_factory(settings, hasher=gated) as client:
        admin = Device(client)
        await admin.login("root")
        login = post_login(client, headers=AS_API_CLIENT)
        async with held_inside_hashing(gated, login) as held:
            changed = await admin_sets_a_password(Accounts(client, admin, admin, alice_id))
            assert changed.status_code == 200, changed.text
        refused = await held

        assert refused.json()["error"] == "invalid_credentials"
        [(stored,)] = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
        assert gated.verify(NEW_PASSWORD, stored).ok
        assert (await post_login(client, password=NEW_PASSWORD)).status_code == 200


async def test_two_logins_racing_through_a_rehash_both_get_in(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """The second login finds the hash it checked rehashed by the first: the same password."""
    gated = GatedHasher(memory_cost=2048)
    settings = make_settings(password_hashing_workers=4)
    alice_id = make_user()
    async with client_factory(settings, hasher=gated) as client:
        async with held_inside_hashing(gated, post_login(client, headers=AS_API_CLIENT)) as held:
            other = await post_login(client, headers=AS_API_CLIENT)
            assert other.status_code == 200, other.text
        second = await held

        assert second.status_code == 200, second.text
    [(stored,)] = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    assert "m=2048," in stored
    assert gated.verify(PASSWORD, stored).ok
    assert len(alive_sessions_of(db_query, alice_id)) == 2
