"""Password work is bounded: beyond the slots and the short queue, 503 password_work_busy with
Retry-After, on every route that hashes or verifies a password, while token checks go on."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager

from authsvc.app import create_app
from tests.helpers.asgi import state_per_request
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import ISSUER, PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.hashing import HoldingHasher, PriorityRecordingHasher, slot_held
from tests.helpers.headers import bearer, behave_like_spa
from tests.helpers.pages import sign_in_through_page
from tests.helpers.sessions import Device

NEW_PASSWORD = "a brand new passphrase"


def assert_busy(response: httpx.Response, retry_after: str = "1") -> None:
    """503 password_work_busy; Retry-After is the longest wait, in whole seconds (at least 1)."""
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "password_work_busy"
    assert response.headers["retry-after"] == retry_after


async def guess_wrong(client: httpx.AsyncClient, *, times: int) -> None:
    """Wrong passwords for alice, each answered as one (not yet throttled)."""
    for _ in range(times):
        wrong = await client.post("/login", json={"username": "alice", "password": "nope"})
        assert wrong.json()["error"] == "invalid_credentials"


async def test_a_login_beyond_the_bound_is_refused_503_with_retry_after_and_counts_no_guess(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        login_limit_client_account="2/hour",
    )
    async with client_factory(settings, hasher=hasher) as client:
        signed_in = Device(client)
        await signed_in.login()
        async with slot_held(client, hasher):
            for password in (PASSWORD, "a wrong password", "another wrong one"):
                refused = await client.post(
                    "/login", json={"username": "alice", "password": password}
                )
                assert_busy(refused)
            # Checking a token hashes nothing: it goes on while every slot is taken.
            assert (await signed_in.get("/session")).status_code == 200
        # Nothing was checked, so nothing was counted against the account.
        after = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert after.status_code == 200, after.text


async def test_a_waiting_login_whose_wait_runs_out_is_refused(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1, password_hashing_queue=1, password_hashing_wait_seconds=0.05
    )
    async with client_factory(settings, hasher=hasher) as client, slot_held(client, hasher):
        # The slot is held until the test releases it, so the queued login cannot get it.
        waited = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert_busy(waited)


async def test_a_login_queued_while_the_slot_frees_gets_its_answer(
    make_settings: MakeSettings, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1, password_hashing_queue=1, password_hashing_wait_seconds=30
    )
    app = create_app(settings, clock=clock, hasher=hasher)
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            behave_like_spa(client, settings, settings.effective_allowed_origins()[0])
            gate = app.state.runtime.password_gate
            async with slot_held(client, hasher):
                queued = asyncio.create_task(
                    client.post("/login", json={"username": "alice", "password": PASSWORD})
                )
                while gate.waiting == 0:  # in the queue before the slot frees
                    await asyncio.sleep(0.01)
                # The queue (one place) is full: the next is refused at once.
                refused = await client.post(
                    "/login", json={"username": "alice", "password": PASSWORD}
                )
                assert_busy(refused, retry_after="30")
            assert (await queued).status_code == 200


async def change_password(
    client: httpx.AsyncClient, alice: Device, _alice_id: str
) -> httpx.Response:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return await client.post("/password", json=body, headers=bearer(alice.access))


async def change_email(client: httpx.AsyncClient, alice: Device, _alice_id: str) -> httpx.Response:
    body = {"current_password": PASSWORD, "email": "alice@example.com"}
    return await client.patch("/account", json=body, headers=bearer(alice.access))


async def register(client: httpx.AsyncClient, _alice: Device, _alice_id: str) -> httpx.Response:
    return await client.post("/register", json={"username": "eve", "password": NEW_PASSWORD})


async def admin_sets_password(
    client: httpx.AsyncClient, admin: Device, alice_id: str
) -> httpx.Response:
    path = f"/admin/users/{alice_id}/password"
    return await client.post(path, json={"password": NEW_PASSWORD}, headers=bearer(admin.access))


@pytest.mark.parametrize(
    ("request_with_password", "signed_in_as"),
    [
        (change_password, "alice"),
        (change_email, "alice"),
        (register, "alice"),
        (admin_sets_password, "root"),
    ],
)
async def test_every_route_that_hashes_a_password_is_bounded_and_changes_nothing_when_busy(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    request_with_password: Callable[[httpx.AsyncClient, Device, str], Awaitable[httpx.Response]],
    signed_in_as: str,
) -> None:
    alice_id = make_user()
    make_user("root", roles=["admin"])
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        registration="open",
    )
    (stored_before,) = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    async with client_factory(settings, hasher=hasher) as client:
        device = Device(client)
        await device.login(signed_in_as)
        async with slot_held(client, hasher):
            assert_busy(await request_with_password(client, device, alice_id))
        assert (await device.get("/session")).status_code == 200
        (stored_after,) = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
        assert stored_after.password_hash == stored_before.password_hash
        assert db_query("SELECT id FROM users WHERE username = 'eve'") == []


async def test_the_openapi_document_declares_the_busy_answer(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(registration="open")) as client:
        document = (await client.get("/openapi.json")).json()
    for method, path in (("post", "/login"), ("post", "/password"), ("post", "/register")):
        busy = document["paths"][path][method]["responses"]["503"]
        assert "password_work_busy" in busy["description"]
        assert "Retry-After" in busy["headers"]
        assert busy["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    session = document["paths"]["/session"]["get"]["responses"]["503"]
    assert "password_work_busy" not in session["description"]


async def test_the_sign_in_page_says_when_to_come_back(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1, password_hashing_queue=0, password_hashing_wait_seconds=0
    )
    async with client_factory(settings, hasher=hasher, browser=False) as client:
        async with slot_held(client, hasher):
            page = await sign_in_through_page(client)
    assert page.status_code == 503
    assert page.headers["retry-after"] == "1"
    assert "Signing in is busy right now. Try again in 1 s." in page.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice values per thread: Linux")
@pytest.mark.parametrize(("niceness", "added"), [(None, 19), (7, 7), (0, 0)])
async def test_passwords_are_hashed_at_a_lower_cpu_priority(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    niceness: int | None,
    added: int,
) -> None:
    """A token check takes the core from a running hash: the hash runs niced (19 by default)."""
    make_user()
    hasher = PriorityRecordingHasher()
    overrides = {} if niceness is None else {"password_hashing_niceness": niceness}
    async with client_factory(make_settings(**overrides), hasher=hasher) as client:
        response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert hasher.niceness == [min(19, own + added)]


async def test_a_throttled_login_is_refused_429_without_waiting_for_a_hashing_slot(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """A guesser the throttle already refuses never takes a place in the queue for a slot, so a
    flood of its refused requests cannot turn honest logins away with 503."""
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=1,
        password_hashing_wait_seconds=30,
        login_limit_client_account="2/hour",
    )
    async with client_factory(settings, hasher=hasher) as client:
        await guess_wrong(client, times=2)
        async with slot_held(client, hasher):
            # Every slot is busy: queued, it would wait the full 30 s for one.
            refused = await asyncio.wait_for(
                client.post("/login", json={"username": "alice", "password": "nope again"}),
                timeout=10,
            )
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "too_many_attempts"
            # The one place in the queue is still free for someone the throttle lets through.
            assert hasher.release.is_set() is False
            queued = asyncio.create_task(
                client.post("/login", json={"username": "bob", "password": PASSWORD})
            )
            await asyncio.sleep(0.2)
            assert not queued.done()
        # The slot freed: the queued login gets its answer (bob does not exist).
        assert (await queued).json()["error"] == "invalid_credentials"


async def test_a_login_with_no_room_for_hashing_is_refused_503_before_the_throttle_is_asked(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """With every slot taken and no place in the queue, a login is refused 503 at once: asking
    the throttle first (a thread hop, and a Redis round trip where its counters live there)
    made each refusal of a storm cost the core that the hashing and the token checks need."""
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        login_limit_client_account="2/hour",
    )
    async with client_factory(settings, hasher=hasher) as client:
        await guess_wrong(client, times=2)
        throttled = await client.post("/login", json={"username": "alice", "password": "nope"})
        assert throttled.json()["error"] == "too_many_attempts"
        async with slot_held(client, hasher):
            refused = await client.post("/login", json={"username": "alice", "password": "nope"})
            assert_busy(refused)
        # The slot freed: the throttle answers again.
        again = await client.post("/login", json={"username": "alice", "password": "nope"})
        assert again.json()["error"] == "too_many_attempts"


async def test_a_login_with_no_room_for_hashing_is_refused_after_the_busy_pause(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """A client that retries a refusal at once gets each refusal only after the pause: it can
    send at most one login per pause and connection. (The pause is a lower bound: a sleep never
    ends early, however loaded the machine.)"""
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(
        password_hashing_workers=1,
        password_hashing_queue=0,
        password_hashing_wait_seconds=0,
        password_hashing_busy_pause_seconds=0.5,
    )
    loop = asyncio.get_running_loop()
    async with client_factory(settings, hasher=hasher) as client:
        async with slot_held(client, hasher):
            started = loop.time()
            refused = await client.post("/login", json={"username": "alice", "password": "x"})
            paused = loop.time() - started
            assert_busy(refused)
            assert paused >= 0.5


async def test_a_throttled_registration_is_refused_429_without_waiting_for_a_hashing_slot(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    """The same for POST /register, whose throttle counts every attempt per address."""
    hasher = HoldingHasher()
    settings = make_settings(
        registration="open",
        register_limit_client="1/hour",
        password_hashing_workers=1,
        password_hashing_queue=1,
        password_hashing_wait_seconds=30,
    )
    async with client_factory(settings, hasher=hasher) as client:
        first = await client.post("/register", json={"username": "eve", "password": NEW_PASSWORD})
        assert first.status_code == 201, first.text
        async with slot_held(client, hasher):
            refused = await asyncio.wait_for(
                client.post("/register", json={"username": "mallory", "password": NEW_PASSWORD}),
                timeout=10,
            )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_attempts"
