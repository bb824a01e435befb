"""An announcement carries no authority: anyone who reaches the channel can send one, so it only
makes a listener read the database again."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.revocation.session_ends import encode_session_end
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import bearer_token, log_in
from tests.helpers.push import CHANNEL_CASES, HandAnnouncer, channel_case, channel_trusted
from tests.helpers.sessions import session_status
from tests.helpers.waiting import eventually


@pytest.fixture(params=CHANNEL_CASES)
def announcer(request: pytest.FixtureRequest, tmp_path: Path) -> HandAnnouncer:
    return channel_case(request, tmp_path)


@pytest.fixture
def database_url(announcer: HandAnnouncer) -> str:
    return announcer.database_url


async def test_a_forged_version_refuses_no_valid_token(
    announcer: HandAnnouncer,
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    async with client_factory(make_settings(**announcer.settings())) as client:
        await channel_trusted(client)
        alice_token, bob_token = (
            await bearer_token(client, "alice"),
            await bearer_token(client, "bob"),
        )
        assert await session_status(client, alice_token) == (200, None)
        assert await session_status(client, bob_token) == (200, None)  # both now in memory

        announcer.announce(f"{alice} 999999999")
        # Then a real revocation of bob, announced as another instance would: the channel keeps
        # order, so once bob is refused here the forged announcement has been heard too.
        announcer.bump(bob)

        async def bob_refused() -> bool:
            return await session_status(client, bob_token) == (401, "token_revoked")

        assert await eventually(bob_refused, timeout=10)
        for _ in range(3):
            assert await session_status(client, alice_token) == (200, None)


async def test_a_forged_session_end_ends_no_live_session(
    announcer: HandAnnouncer,
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
) -> None:
    make_user("alice")
    bob = make_user("bob")
    async with client_factory(make_settings(**announcer.settings())) as client:
        await channel_trusted(client)
        alice = await log_in(client, "alice")
        alice_token, alice_sid = alice.cookies[ACCESS], alice.json()["session"]["id"]
        client.cookies.clear()
        bob_token = await bearer_token(client, "bob")
        assert await session_status(client, alice_token) == (200, None)
        assert await session_status(client, bob_token) == (200, None)

        announcer.announce(encode_session_end(alice_sid))
        announcer.bump(bob)  # heard after the forgery: the channel keeps order

        async def bob_refused() -> bool:
            return await session_status(client, bob_token) == (401, "token_revoked")

        assert await eventually(bob_refused, timeout=10)
        for _ in range(3):
            assert await session_status(client, alice_token) == (200, None)
