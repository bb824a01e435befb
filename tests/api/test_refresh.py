"""Refresh cookie, rotation, reuse detection, the grace period and the session timeouts."""

from __future__ import annotations

import httpx

from tests.helpers.clock import FakeClock
from tests.helpers.cookies import REFRESH, refresh_cookies, refresh_token_of
from tests.helpers.database import execute
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import log_in
from tests.helpers.sessions import Device, refresh_with, sha256


async def test_login_sets_refresh_cookie_narrowed_and_stored_as_hash(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    response = await log_in(client, remember=False)
    cookies = refresh_cookies(response)
    assert sorted(cookie.attributes["path"] for cookie in cookies) == ["/logout", "/refresh"]
    token = refresh_token_of(response)
    assert len(token) >= 43  # 32 random bytes, base64url
    for cookie in cookies:
        assert cookie.has("httponly")
        assert cookie.attributes["samesite"].lower() == "strict"
        # Without "remember me" it is a browser-session cookie.
        assert "max-age" not in cookie.attributes and "expires" not in cookie.attributes
    rows = db_query("SELECT refresh_hash, remember FROM sessions")
    assert [(row.refresh_hash, row.remember) for row in rows] == [(sha256(token), False)]
    stored = db_query("SELECT * FROM sessions")[0]
    assert token not in " ".join(str(value) for value in stored)


async def test_remember_me_makes_refresh_cookie_persistent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    response = await log_in(client, remember=True)
    for cookie in refresh_cookies(response):
        assert int(cookie.attributes["max-age"]) == 30 * 86400


async def test_secure_refresh_cookie_uses_secure_prefix(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    async with client_factory(make_settings(cookie_secure="true"), base_url="https://a.test") as c:
        response = await log_in(c, remember=False)
    cookies = refresh_cookies(response, name=f"__Secure-{REFRESH}")
    assert len(cookies) == 2 and all(cookie.has("secure") for cookie in cookies)


async def test_refresh_rotates_and_issues_working_access_token(
    client: httpx.AsyncClient,
    device: Device,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    first = device.refresh
    clock.advance(20 * 60)  # the access token has expired
    assert (await device.get("/session")).status_code == 401
    response = await device.refresh_now()
    assert response.status_code == 200, response.text
    assert device.refresh != first
    assert (await device.get("/session")).status_code == 200
    row = db_query("SELECT refresh_hash, previous_refresh_hash FROM sessions")[0]
    assert (row.refresh_hash, row.previous_refresh_hash) == (sha256(device.refresh), sha256(first))


async def test_reuse_after_grace_ends_session_bumps_version_and_is_audited(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    user_id = make_user()
    device = Device(client)
    await device.login()
    stolen = device.refresh
    assert (await device.refresh_now()).status_code == 200
    clock.advance(11)  # past the 10-second grace period
    reused = await refresh_with(client, stolen)
    assert reused.status_code == 401
    assert reused.json()["error"] == "refresh_token_reused"
    row = db_query("SELECT ended_at, end_reason, refresh_hash FROM sessions")[0]
    assert row.ended_at is not None and row.end_reason == "refresh_token_reuse"
    assert row.refresh_hash is None
    # The legitimate holder's token died with the session, and every access token at once.
    assert (await device.refresh_now()).status_code == 401
    assert (await device.get("/session")).json()["error"] == "token_revoked"
    events = db_query(
        "SELECT user_id FROM audit_events WHERE event = 'refresh_token_reuse'",
    )
    assert [event.user_id for event in events] == [user_id]
    assert db_query("SELECT token_version FROM users")[0].token_version == 1


async def test_reuse_within_grace_gets_access_token_for_same_session(
    client: httpx.AsyncClient,
    device: Device,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    old = device.refresh
    assert (await device.refresh_now()).status_code == 200
    clock.advance(5)
    late_tab = await refresh_with(client, old)
    assert late_tab.status_code == 200, late_tab.text
    # The refresh cookie is left alone: the first tab's response set the new one.
    assert refresh_cookies(late_tab) == []
    assert late_tab.json()["session"]["id"] == db_query("SELECT id FROM sessions")[0].id
    assert db_query("SELECT ended_at FROM sessions")[0].ended_at is None
    # The rotated token still works afterwards.
    assert (await device.refresh_now()).status_code == 200


async def test_unknown_or_malformed_refresh_token_is_refused_and_cookies_cleared(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    await log_in(client, remember=False)
    for token in ("x" * 43, "short", "not a token at all !!"):
        response = await refresh_with(client, token)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_refresh_token"
        cleared = refresh_cookies(response)
        # Both copies (one per path) are expired: none may be left behind, and none is new.
        assert sorted(cookie.attributes["path"] for cookie in cleared) == ["/logout", "/refresh"]
        assert [cookie.attributes.get("max-age") for cookie in cleared] == ["0", "0"]
        assert [cookie.value for cookie in cleared] == ["", ""]
    missing = await client.post("/refresh", headers={"Cookie": ""})
    assert missing.json()["error"] == "invalid_refresh_token"


async def test_idle_timeout_is_enforced_at_refresh(
    client: httpx.AsyncClient,
    device: Device,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    clock.advance(29 * 60)
    assert (await device.refresh_now()).status_code == 200  # activity keeps it alive
    clock.advance(29 * 60)
    assert (await device.refresh_now()).status_code == 200
    clock.advance(31 * 60)  # idle for longer than 30 minutes
    expired = await device.refresh_now()
    assert expired.status_code == 401 and expired.json()["error"] == "session_expired"
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "idle_timeout"


async def test_absolute_timeout_is_enforced_at_refresh(
    client: httpx.AsyncClient,
    device: Device,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    for _ in range(19):  # refreshing every 25 minutes for 7h55
        clock.advance(25 * 60)
        assert (await device.refresh_now()).status_code == 200
    clock.advance(10 * 60)  # 8h05 after login, only 10 minutes idle
    expired = await device.refresh_now()
    assert expired.json()["error"] == "session_expired"
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "absolute_timeout"


async def test_remember_me_survives_days_away_but_not_the_absolute_limit(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    device = Device(client)
    await device.login(remember=True)
    clock.advance(3 * 86400)
    assert (await device.refresh_now()).status_code == 200
    clock.advance(8 * 86400)  # longer than the 7-day idle timeout of remembered sessions
    assert (await device.refresh_now()).json()["error"] == "session_expired"


async def test_timeouts_are_configurable(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user()
    settings = make_settings(session_idle_timeout_seconds=300, access_token_ttl_seconds=60)
    async with client_factory(settings) as client:
        device = Device(client)
        await device.login()
        clock.advance(301)
        assert (await device.refresh_now()).json()["error"] == "session_expired"


async def test_refresh_of_disabled_user_is_refused(
    client: httpx.AsyncClient,
    device: Device,
    clock: FakeClock,
    database_url: str,
) -> None:
    execute(database_url, "UPDATE users SET disabled = true")
    assert (await device.refresh_now()).json()["error"] == "invalid_refresh_token"


async def test_logout_clears_refresh_cookies_and_kills_refresh_token(
    client: httpx.AsyncClient, device: Device
) -> None:
    response = await client.post(
        "/logout", headers={**bearer(device.access), "Cookie": f"{REFRESH}={device.refresh}"}
    )
    assert response.status_code == 200
    cleared = refresh_cookies(response)
    assert sorted(cookie.attributes["path"] for cookie in cleared) == ["/logout", "/refresh"]
    assert all(cookie.attributes["max-age"] == "0" for cookie in cleared)
    assert (await device.refresh_now()).status_code == 401


async def test_logout_with_only_the_refresh_cookie_ends_the_session(
    client: httpx.AsyncClient,
    device: Device,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    clock.advance(20 * 60)  # the access cookie is gone; the refresh cookie is still there
    response = await client.post("/logout", headers={"Cookie": f"{REFRESH}={device.refresh}"})
    assert response.status_code == 200
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "logout"
    assert (await device.refresh_now()).status_code == 401


async def test_any_earlier_token_of_the_family_is_reuse_however_many_rotations_ago(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    """A thief who rotates twice must not leave the victim's older token unrecognised."""
    user_id = make_user()
    victim = Device(client)
    await victim.login()
    stolen = victim.refresh
    thief = Device(client)
    thief.refresh = stolen
    for _ in range(3):  # the thief rotates R1 -> R2 -> R3 -> R4
        clock.advance(60)
        assert (await thief.refresh_now()).status_code == 200
    clock.advance(11)  # past the grace period of the last rotation
    victim_back = await refresh_with(client, stolen)
    assert victim_back.status_code == 401
    assert victim_back.json()["error"] == "refresh_token_reused"
    # The session ended, its token version was bumped, and the theft was audited.
    assert (await thief.refresh_now()).json()["error"] == "invalid_refresh_token"
    assert (await thief.get("/session")).json()["error"] == "token_revoked"
    row = db_query("SELECT end_reason FROM sessions")[0]
    assert row.end_reason == "refresh_token_reuse"
    assert db_query("SELECT token_version FROM users")[0].token_version == 1
    events = db_query("SELECT user_id FROM audit_events WHERE event = 'refresh_token_reuse'")
    assert [event.user_id for event in events] == [user_id]


async def test_a_middle_token_of_the_family_is_reuse_too(
    client: httpx.AsyncClient, device: Device, db_query: DbQuery, clock: FakeClock
) -> None:
    tokens = [device.refresh]
    for _ in range(4):
        clock.advance(60)
        assert (await device.refresh_now()).status_code == 200
        tokens.append(device.refresh)
    clock.advance(11)
    # Every earlier token is remembered; only the current one is not reuse.
    reused = await refresh_with(client, tokens[2])
    assert reused.json()["error"] == "refresh_token_reused"
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "refresh_token_reuse"
    # Once the session has ended, its other earlier tokens are still recognised (audited).
    again = await refresh_with(client, tokens[0])
    assert again.json()["error"] == "refresh_token_reused"
    events = db_query("SELECT detail FROM audit_events WHERE event = 'refresh_token_reuse'")
    assert len(events) == 2


async def test_only_the_latest_rotation_gets_the_two_tabs_grace(
    client: httpx.AsyncClient, device: Device, db_query: DbQuery, clock: FakeClock
) -> None:
    older = device.refresh
    assert (await device.refresh_now()).status_code == 200
    previous = device.refresh
    clock.advance(2)
    assert (await device.refresh_now()).status_code == 200
    clock.advance(2)  # within the grace of the latest rotation only
    assert (await refresh_with(client, previous)).status_code == 200
    reused = await refresh_with(client, older)
    assert reused.json()["error"] == "refresh_token_reused"
    assert db_query("SELECT end_reason FROM sessions")[0].end_reason == "refresh_token_reuse"


async def test_the_family_is_deleted_with_its_session(
    device: Device, db_query: DbQuery, clock: FakeClock, database_url: str
) -> None:
    for _ in range(3):
        clock.advance(60)
        assert (await device.refresh_now()).status_code == 200
    assert len(db_query("SELECT hash FROM rotated_refresh_tokens")) == 3
    execute(database_url, "DELETE FROM sessions")
    assert db_query("SELECT hash FROM rotated_refresh_tokens") == []
