"""Account enumeration: unknown user and wrong password look the same, bytes and time."""

from __future__ import annotations

import random
import statistics
import time

import httpx

from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from tests.helpers.clock import FakeClock
from tests.helpers.database import add_user
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.headers import comparable_headers
from tests.helpers.login import post_login


async def test_unknown_user_and_wrong_password_answer_byte_identically(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        await client.get("/session")  # take the CSRF cookie, so no answer sets one
        answers = [
            await client.post("/login", json={"username": name, "password": "not-it-at-all"})
            for name in ("alice", "mallory")
        ]
    wrong, unknown = answers
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert comparable_headers(wrong) == comparable_headers(unknown)


async def _timed_login(client: httpx.AsyncClient, username: str) -> float:
    started = time.perf_counter()
    response = await post_login(client, username, "wrong-pw")
    elapsed = time.perf_counter() - started
    assert response.status_code == 401
    return elapsed


def _probability_of_superiority(a: list[float], b: list[float]) -> float:
    """P(a sample of `a` > a sample of `b`): 0.5 when indistinguishable (Mann-Whitney's AUC)."""
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


async def test_unknown_user_and_wrong_password_take_the_same_time(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    database_url: str,
    clock: FakeClock,
) -> None:
    """With the production hasher, an unknown user costs a full verification too.

    Interleaved in random order so that machine load hits both sides alike; judged by ranks and
    medians with generous bounds: without the dummy verification the unknown user answers an
    order of magnitude faster and both bounds fail.
    """
    hasher = Argon2Hasher()  # OWASP parameters, for the stored hash and the dummy alike
    add_user(database_url, "alice", "a-long-password", now=clock.now(), hasher=hasher)
    settings = make_settings(login_throttle_enabled=False)
    async with client_factory(settings, hasher=hasher) as client:
        await _timed_login(client, "alice")  # warm-up
        existing: list[float] = []
        unknown: list[float] = []
        order = ["alice", "mallory"] * 15
        random.shuffle(order)
        for username in order:
            elapsed = await _timed_login(client, username)
            (existing if username == "alice" else unknown).append(elapsed)
    superiority = _probability_of_superiority(existing, unknown)
    ratio = statistics.median(unknown) / statistics.median(existing)
    assert 0.1 < superiority < 0.9, (superiority, ratio)
    assert 0.6 < ratio < 1.67, (superiority, ratio)


async def test_a_username_postgresql_cannot_store_is_just_an_unknown_user(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    """Found by the fuzzer: a NUL in the username made PostgreSQL fail the lookup (503)."""
    make_user()
    async with client_factory(settings) as client:
        await client.get("/session")
        answers = [
            await client.post("/login", json={"username": name, "password": "not-it-at-all"})
            for name in ("mallory", "alice\x00")
        ]
    assert [answer.status_code for answer in answers] == [401, 401]
    assert answers[0].content == answers[1].content
