"""A session ended on one instance is refused on the others within the push delay, and by an
instance that starts afterwards at its first request (it loads the recently ended sessions)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.push import CHANNEL_CASES, HandAnnouncer, channel_case, channel_trusted
from tests.helpers.sessions import PUSH_BOUND_SECONDS, Device, status_and_error
from tests.helpers.waiting import eventually

ENDED = (401, "session_ended")


@pytest.fixture(params=CHANNEL_CASES)
def announcer(request: pytest.FixtureRequest, tmp_path: Path) -> HandAnnouncer:
    return channel_case(request, tmp_path)


@pytest.fixture
def database_url(announcer: HandAnnouncer) -> str:
    return announcer.database_url


async def answers(client: httpx.AsyncClient, token: str) -> list[tuple[int, str | None]]:
    return [
        status_and_error(await client.get(path, headers=bearer(token)))
        for path in ("/session", "/verify")
    ]


async def test_a_session_ended_on_another_instance_is_refused_within_the_push_delay(
    announcer: HandAnnouncer,
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
) -> None:
    make_user()
    settings = make_settings(**announcer.settings())
    async with client_factory(settings) as one, client_factory(settings) as other:
        await channel_trusted(one)
        await channel_trusted(other)
        laptop, phone = Device(one), Device(other)
        laptop_sid = (await laptop.login()).json()["session"]["id"]
        await phone.login()
        for _ in range(2):  # verified, then answered from memory
            assert await answers(one, laptop.access) == [(200, None), (204, None)]

        ended = await other.delete(f"/sessions/{laptop_sid}", headers=bearer(phone.access))
        assert ended.status_code in (200, 204), ended.text
        signed_out = time.monotonic()

        async def refused() -> bool:
            return await answers(one, laptop.access) == [ENDED, ENDED]

        assert await eventually(refused, timeout=PUSH_BOUND_SECONDS)
        assert time.monotonic() - signed_out < PUSH_BOUND_SECONDS
        assert await answers(one, phone.access) == [(200, None), (204, None)]

        # An instance that starts now never heard the announcement: it loaded the ending.
        async with client_factory(settings) as newcomer:
            await channel_trusted(newcomer)
            assert await answers(newcomer, laptop.access) == [ENDED, ENDED]
            assert await answers(newcomer, phone.access) == [(200, None), (204, None)]
