"""PATCH /session: state carried in the `sess` claim, stored with the session, bounded in size."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import access_token_of
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device
from tests.helpers.statements import USER_ROW_LOCK, held_at_statement


async def patch(client: httpx.AsyncClient, device: Device, body: object) -> httpx.Response:
    response = await client.patch("/session", json=body, headers=bearer(device.access))
    device.remember(response)
    return response


async def test_patch_merges_state_and_reissues_access_cookie(
    client: httpx.AsyncClient, device: Device
) -> None:
    old_access = device.access
    first = await patch(client, device, {"theme": "dark", "cart": {"items": 2}})
    assert first.status_code == 200, first.text
    assert access_token_of(first) != old_access
    second = await patch(client, device, {"cart": {"coupon": "X"}, "theme": None})
    assert second.json()["session"]["state"] == {"cart": {"items": 2, "coupon": "X"}}
    current = await device.get("/session")
    assert current.json()["session"]["state"] == {"cart": {"items": 2, "coupon": "X"}}


async def test_state_survives_refresh(
    client: httpx.AsyncClient,
    device: Device,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    await patch(client, device, {"lang": "fr"})
    clock.advance(20 * 60)
    refreshed = await device.refresh_now()
    assert refreshed.json()["session"]["state"] == {"lang": "fr"}
    assert (await device.get("/session")).json()["session"]["state"] == {"lang": "fr"}
    assert db_query("SELECT state FROM sessions")[0].state in ({"lang": "fr"}, '{"lang": "fr"}')


async def test_state_over_limit_is_413_and_not_stored(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user()
    async with client_factory(make_settings(session_state_max_bytes=64)) as client:
        device = Device(client)
        await device.login()
        assert (await patch(client, device, {"a": "x" * 40})).status_code == 200
        response = await patch(client, device, {"b": "y" * 40})
        assert response.status_code == 413
        assert response.json()["error"] == "session_state_too_large"
        assert "64 bytes" in response.json()["detail"]
        assert (await device.get("/session")).json()["session"]["state"] == {"a": "x" * 40}
        huge = await patch(client, device, {"c": "z" * 2000})
        assert huge.status_code == 413


async def test_default_limit_keeps_the_cookie_under_4kb(
    client: httpx.AsyncClient, device: Device
) -> None:
    response = await patch(client, device, {"k": "v" * 1000})
    assert response.status_code == 200
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("authsvc_at"))
    assert len(cookie) < 4096
    assert (await patch(client, device, {"k": "v" * 1100})).status_code == 413


async def test_bad_state_patches_get_clear_4xx(client: httpx.AsyncClient, device: Device) -> None:
    headers = bearer(device.access)
    cases = [
        ("[1, 2]", "application/json", 400),
        ("{not json", "application/json", 400),
        ('{"a": NaN}', "application/json", 400),
        ("[" * 1500 + "]" * 1500, "application/json", 413),
        ("[" * 900 + "]" * 900, "application/json", 400),
        ("a=b", "application/x-www-form-urlencoded", 415),
    ]
    for body, media_type, status in cases:
        response = await client.patch(
            "/session", content=body, headers={**headers, "Content-Type": media_type}
        )
        assert response.status_code == status, (body[:20], response.text)
        assert set(response.json()) == {"error", "detail"}


async def test_patch_needs_a_live_session(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    make_user()
    device = Device(client)
    sid = (await device.login()).json()["session"]["id"]
    client.cookies.clear()
    assert (await client.patch("/session", json={"a": 1})).status_code == 401
    await client.delete(f"/sessions/{sid}", headers=bearer(device.access))
    response = await patch(client, device, {"a": 1})
    assert response.status_code == 401 and response.json()["error"] == "session_ended"


async def test_the_limit_counts_the_bytes_the_state_takes_in_the_token(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    """A non-ASCII character is a 6-byte escape in the token, not its 2 UTF-8 bytes."""
    make_user()
    async with client_factory(make_settings(session_state_max_bytes=256)) as client:
        device = Device(client)
        await device.login()
        # 100 characters: 200 bytes of UTF-8, but 600 bytes in the token's payload.
        response = await patch(client, device, {"name": "é" * 100})
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "session_state_too_large"
        assert (await device.get("/session")).json()["session"]["state"] == {}
        fits = await patch(client, device, {"name": "é" * 40})
        assert fits.status_code == 200
        payload = access_token_of(fits).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["sess"] == {"name": "é" * 40}
        claim = json.dumps(claims["sess"], separators=(",", ":"))
        assert '"sess":' + claim in base64.urlsafe_b64decode(
            payload + "=" * (-len(payload) % 4)
        ).decode("ascii")
        assert len(claim) <= 256


async def test_concurrent_patches_of_one_session_each_keep_their_change(
    client: httpx.AsyncClient, device: Device, db_query: DbQuery
) -> None:
    """Two tabs patch the session at once: each merges into what the other stored, none is
    written over (the user's row is locked before the session's state is read)."""
    access = device.access
    responses = await asyncio.gather(
        *(client.patch("/session", json={f"tab{n}": n}, headers=bearer(access)) for n in range(12))
    )
    assert [response.status_code for response in responses] == [200] * 12
    stored = db_query("SELECT state FROM sessions")[0].state
    state = json.loads(stored) if isinstance(stored, str) else stored
    assert state == {f"tab{n}": n for n in range(12)}


async def test_a_patch_that_overlaps_logout_everywhere_hands_out_no_live_token(
    client: httpx.AsyncClient, device: Device
) -> None:
    """Patches racing a logout everywhere: each is answered 200 or refused as revoked, and no
    token any of them handed out still works afterwards."""
    access = device.access
    patches = [
        client.patch("/session", json={f"tab{n}": n}, headers=bearer(access)) for n in range(12)
    ]
    logout = client.post("/logout", params={"everywhere": "true"}, headers=bearer(access))
    *patched, logged_out = await asyncio.gather(*patches, logout)
    assert logged_out.status_code == 200, logged_out.text
    assert logged_out.json()["everywhere"] is True
    handed_out = [access_token_of(response) for response in patched if response.status_code == 200]
    for response in patched:
        if response.status_code != 200:
            assert response.status_code == 401, response.text
            assert response.json()["error"] in {"token_revoked", "session_ended"}
    for token in handed_out:
        check = await client.get("/session", headers=bearer(token))
        assert check.status_code == 401, check.text
        assert check.json()["error"] in {"token_revoked", "session_ended"}


async def test_a_revocation_that_commits_before_the_patch_locks_the_user_is_seen_under_the_lock(
    client: httpx.AsyncClient, device: Device, settings: Settings, db_query: DbQuery
) -> None:
    """The request's check passed on the token version it read (here from the cache); a logout
    everywhere commits before the patch locks the user's row. The re-check under the lock
    refuses the patch as revoked instead of signing a token for it."""
    access = device.access
    dialect = settings.database_url.split(":")[0].split("+")[0]
    with held_at_statement(USER_ROW_LOCK[dialect], moment="before") as (entered, gate):
        patching = asyncio.create_task(
            client.patch("/session", json={"theme": "dark"}, headers=bearer(access))
        )
        assert await asyncio.to_thread(entered.wait, 30)
        logout = await client.post("/logout", params={"everywhere": "true"}, headers=bearer(access))
        assert logout.status_code == 200, logout.text
        gate.set()
        refused = await patching
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "token_revoked"
    assert "set-cookie" not in refused.headers
    stored = db_query("SELECT state FROM sessions")[0].state
    assert (json.loads(stored) if isinstance(stored, str) else stored) == {}
