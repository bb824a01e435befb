"""Ending one session refuses its access tokens on their next request, not when they expire:
a logout, a device signed out from another one, a login that replaces the browser's session,
and a single-session login, on every database and cache, on `GET /session` and `GET /verify`."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import log_in
from tests.helpers.sessions import Device, status_and_error

ENDED = (401, "session_ended")


async def refusals(client: httpx.AsyncClient, token: str) -> list[tuple[int, str | None]]:
    """What `GET /session` (the per-call check) and `GET /verify` (forward auth) answer."""
    return [
        status_and_error(await client.get(path, headers=bearer(token)))
        for path in ("/session", "/verify")
    ]


@pytest.fixture(params=["auto", "off"])
def cache(request: pytest.FixtureRequest) -> str:
    """The token-version cache: `auto` (SQLite's change counter, PostgreSQL's push) or none."""
    param: str = request.param
    return param


async def test_a_logged_out_sessions_copied_token_is_refused_on_its_next_request(
    cache: str, client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(make_settings(token_version_cache=cache)) as client:
        laptop, phone = Device(client), Device(client)
        await laptop.login()
        await phone.login()
        assert await refusals(client, laptop.access) == [(200, None), (204, None)]

        assert (await client.post("/logout", headers=bearer(laptop.access))).status_code == 200

        assert await refusals(client, laptop.access) == [ENDED, ENDED]
        assert await refusals(client, phone.access) == [(200, None), (204, None)]


async def test_a_device_signed_out_from_another_is_refused_on_its_next_request(
    cache: str, client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(make_settings(token_version_cache=cache)) as client:
        laptop, phone = Device(client), Device(client)
        laptop_sid = (await laptop.login()).json()["session"]["id"]
        await phone.login()
        assert await refusals(client, laptop.access) == [(200, None), (204, None)]

        ended = await client.delete(f"/sessions/{laptop_sid}", headers=bearer(phone.access))
        assert ended.status_code in (200, 204), ended.text

        assert await refusals(client, laptop.access) == [ENDED, ENDED]
        assert await refusals(client, phone.access) == [(200, None), (204, None)]


async def test_a_login_that_replaces_the_browsers_session_refuses_its_old_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    first = (await log_in(client)).cookies["authsvc_at"]
    assert await refusals(client, first) == [(200, None), (204, None)]

    second = (await log_in(client)).cookies["authsvc_at"]  # the same browser, its cookies sent

    assert await refusals(client, first) == [ENDED, ENDED]
    assert await refusals(client, second) == [(200, None), (204, None)]


async def test_a_single_session_login_refuses_the_other_devices_tokens(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(make_settings(single_session="newest")) as client:
        laptop, phone = Device(client), Device(client)
        await laptop.login()
        assert await refusals(client, laptop.access) == [(200, None), (204, None)]

        await phone.login()

        # The policy also bumps the token version, which the check compares first.
        assert await refusals(client, laptop.access) == [(401, "token_revoked")] * 2
        assert await refusals(client, phone.access) == [(200, None), (204, None)]
