"""Two tabs of one browser refresh at the same moment, on a real server: nobody is logged out."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers.cookies import REFRESH, refresh_cookies, refresh_token_of
from tests.helpers.fixture_types import DbQuery, MakeUser, StartServer
from tests.helpers.login import post_login

ROUNDS = 5


@pytest.mark.server
async def test_two_tabs_refreshing_together_stay_logged_in(
    live_server: StartServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as browser:
        login = await post_login(browser)
        assert login.status_code == 200
        token = refresh_token_of(login)
        csrf = browser.cookies["authsvc_csrf"]  # the page echoes it, as CSRF protection asks
        for _ in range(ROUNDS):
            # Two connections, one cookie: both requests carry the same refresh token.
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=20) as tab1,
                httpx.AsyncClient(base_url=server.url, timeout=20) as tab2,
            ):
                headers = {
                    "Cookie": f"{REFRESH}={token}; authsvc_csrf={csrf}",
                    "Origin": server.url,
                    "X-CSRF-Token": csrf,
                }
                first, second = await asyncio.gather(
                    tab1.post("/refresh", headers=headers), tab2.post("/refresh", headers=headers)
                )
            assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
            assert first.json()["session"]["id"] == second.json()["session"]["id"]
            # Exactly one of them rotated; the other left the cookie alone.
            rotated = [response for response in (first, second) if refresh_cookies(response)]
            assert len(rotated) == 1
            token = refresh_token_of(rotated[0])
            for response in (first, second):
                access = response.cookies.get("authsvc_at")
                session = await browser.get(
                    "/session", headers={"Authorization": f"Bearer {access}"}
                )
                assert session.status_code == 200
    rows = db_query("SELECT ended_at FROM sessions")
    assert [row.ended_at for row in rows] == [None]
    assert not db_query("SELECT id FROM audit_events WHERE event = 'refresh_token_reuse'")
