"""The push-invalidated token-version cache across a real fleet, with its channel killed mid-run.

Three instances behind nginx on one PostgreSQL database run with AUTHSVC_TOKEN_VERSION_CACHE;
the channel is killed the way a network or database restart kills it: the listeners'
PostgreSQL backends are terminated (pg_terminate_backend), or the test's own Redis is stopped.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.helpers.database import add_user, execute
from tests.helpers.defaults import PASSWORD
from tests.helpers.fleet import Fleet, HarnessUnavailable, measurements, require, start_fleet
from tests.helpers.headers import bearer
from tests.helpers.login import bearer_token_sync
from tests.helpers.processes import free_port, port_open, stop_process
from tests.helpers.push import kill_cache_listeners
from tests.helpers.sessions import PUSH_BOUND_SECONDS, session_status_at
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.server, pytest.mark.postgres]

# A revocation reaches every replica within the push delay, cache or not.
BOUND = PUSH_BOUND_SECONDS
USERS = [f"user{number}" for number in range(6)]


def metric(http: httpx.Client, base_url: str, name: str) -> float:
    body = http.get(f"{base_url}/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body, re.MULTILINE)
    assert match is not None, f"{name} missing from {base_url}/metrics"
    return float(match.group(1))


def wait_all_trusted(fleet: Fleet, http: httpx.Client) -> None:
    wait_for(
        lambda: all(
            metric(http, i.url, "authsvc_token_version_cache_trusted") == 1 for i in fleet.instances
        ),
        timeout=15,
        what="every instance's cache to subscribe",
    )


def refuses(http: httpx.Client, url: str, token: str) -> bool:
    return session_status_at(http, url, token) == (401, "token_revoked")


def wait_all_refuse(fleet: Fleet, http: httpx.Client, token: str) -> None:
    """Every instance refuses the revoked token, all of them within BOUND."""
    started = time.monotonic()
    for instance in fleet.instances:
        wait_for(
            partial(refuses, http, instance.url, token),
            timeout=BOUND - (time.monotonic() - started),
            what=f"{instance.url} to refuse a revoked token",
        )


@pytest.fixture
def cached_fleet(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Fleet, str]]:
    for username in USERS:
        add_user(postgres_url, username, PASSWORD)
    fleet = require(
        lambda: start_fleet(
            postgres_url, tmp_path / "fleet", size=3, AUTHSVC_TOKEN_VERSION_CACHE="postgres"
        )
    )
    yield fleet, postgres_url
    fleet.stop()


def test_the_cache_answers_only_while_its_channel_is_up(cached_fleet: tuple[Fleet, str]) -> None:
    fleet, database_url = cached_fleet
    with httpx.Client(timeout=15) as http:
        wait_all_trusted(fleet, http)
        token = bearer_token_sync(http, "user0", at=fleet.url)
        hits = 'authsvc_token_version_cache_lookups_total{result="hit"}'
        for instance in fleet.instances:
            before = metric(http, instance.url, hits)
            assert session_status_at(http, instance.url, token) == (200, None)
            assert session_status_at(http, instance.url, token) == (200, None)
            assert metric(http, instance.url, hits) > before, "the check did not use the cache"

        # A bump nobody announces: what an instance misses when the channel drops. While the
        # channel is up the cache trusts itself, so this token still passes everywhere...
        execute(
            database_url,
            "UPDATE users SET token_version = token_version + 1 WHERE username = 'user0'",
        )
        for instance in fleet.instances:
            assert session_status_at(http, instance.url, token) == (200, None)

        # ...and the moment the channel is lost, the cache is emptied: the database answers.
        losses = "authsvc_token_version_cache_channel_losses_total"
        assert kill_cache_listeners(database_url) == len(fleet.instances)
        wait_for(
            lambda: all(metric(http, i.url, losses) >= 1 for i in fleet.instances),
            timeout=10,
            what="every instance to notice the lost channel",
        )
        for instance in fleet.instances:
            assert session_status_at(http, instance.url, token) == (401, "token_revoked")

        # The listeners resubscribe by themselves; pushed revocations work again.
        wait_all_trusted(fleet, http)
        fresh = bearer_token_sync(http, "user1", at=fleet.url)
        for instance in fleet.instances:
            assert session_status_at(http, instance.url, fresh) == (200, None)
        assert http.post(f"{fleet.url}/logout?everywhere=true", headers=bearer(fresh)).is_success
        wait_all_refuse(fleet, http, fresh)


def test_revocation_reaches_every_instance_within_a_second_while_the_channel_is_killed(
    cached_fleet: tuple[Fleet, str],
) -> None:
    fleet, database_url = cached_fleet
    spreads: list[float] = []
    killed_rounds: list[float] = []
    background: Counter[int] = Counter()
    stop = threading.Event()
    with httpx.Client(timeout=15) as http:
        wait_all_trusted(fleet, http)
        steady = bearer_token_sync(http, USERS[-1], at=fleet.url)

        def steady_load() -> None:
            # A valid token keeps passing during the outages: fail closed, not failing.
            with httpx.Client(timeout=15) as client:
                while not stop.is_set():
                    background[
                        client.get(f"{fleet.url}/session", headers=bearer(steady)).status_code
                    ] += 1

        worker = threading.Thread(target=steady_load)
        worker.start()
        try:
            for round_number in range(12):
                username = USERS[round_number % (len(USERS) - 1)]
                token = bearer_token_sync(http, username, at=fleet.url)
                for instance in fleet.instances:  # every cache holds this version now
                    assert session_status_at(http, instance.url, token) == (200, None)
                kill = round_number % 4 == 2
                if kill:
                    # The announcement of the logout below falls into the gap.
                    assert kill_cache_listeners(database_url) == len(fleet.instances)
                entry = fleet.instances[round_number % len(fleet.instances)]
                logout = http.post(f"{entry.url}/logout?everywhere=true", headers=bearer(token))
                assert logout.status_code == 200
                done = time.monotonic()
                slowest = 0.0
                for instance in fleet.instances:
                    while session_status_at(http, instance.url, token) != (401, "token_revoked"):
                        assert time.monotonic() - done < BOUND, (
                            f"{instance.url} stale after {BOUND}s"
                        )
                        time.sleep(0.005)
                    slowest = max(slowest, time.monotonic() - done)
                spreads.append(slowest)
                if kill:
                    killed_rounds.append(slowest)
                    wait_all_trusted(fleet, http)
        finally:
            stop.set()
            worker.join(timeout=30)
    assert set(background) == {200}, background
    assert len(killed_rounds) == 3
    measurements.append(
        f"token-version cache (postgres push): revocation reached all 3 instances in median "
        f"{statistics.median(spreads) * 1000:.0f} ms, max {max(spreads) * 1000:.0f} ms over "
        f"{len(spreads)} rounds; rounds with the channel killed: max "
        f"{max(killed_rounds) * 1000:.0f} ms; {sum(background.values())} steady checks all 200"
    )


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise HarnessUnavailable("redis-server is not installed (Debian: redis-server)")
    return found


class OwnRedis:
    """A redis-server of this test only, on a free port, stopped by its PID."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), timeout=10, what="redis-server")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def test_with_redis_as_the_channel_stopping_redis_fails_closed_and_restarting_it_recovers(
    postgres_url: str, tmp_path: Path
) -> None:
    require(redis_server_binary)
    add_user(postgres_url, "alice", PASSWORD)
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    fleet: Fleet | None = None
    try:
        fleet = start_fleet(
            postgres_url,
            tmp_path / "fleet",
            size=3,
            AUTHSVC_REDIS_URL=redis.url,
            AUTHSVC_TOKEN_VERSION_CACHE="redis",
        )
        with httpx.Client(timeout=15) as http:
            wait_all_trusted(fleet, http)
            token = bearer_token_sync(http, "alice", at=fleet.url)
            for instance in fleet.instances:  # warm every cache with this version
                assert session_status_at(http, instance.url, token) == (200, None)

            redis.stop()
            instances = fleet.instances
            wait_for(
                lambda: all(
                    metric(http, i.url, "authsvc_token_version_cache_trusted") == 0
                    for i in instances
                ),
                timeout=15,
                what="every instance to notice that Redis is gone",
            )
            # Nobody hears this bump (Redis is down), so every instance must read the database.
            logout = http.post(f"{fleet.url}/logout?everywhere=true", headers=bearer(token))
            assert logout.status_code == 200
            for instance in fleet.instances:
                assert session_status_at(http, instance.url, token) == (401, "token_revoked")

            redis.start()  # same port: the listeners resubscribe by themselves
            wait_all_trusted(fleet, http)
            fresh = bearer_token_sync(http, "alice", at=fleet.url)
            for instance in fleet.instances:
                assert session_status_at(http, instance.url, fresh) == (200, None)
            assert http.post(
                f"{fleet.url}/logout?everywhere=true", headers=bearer(fresh)
            ).is_success
            wait_all_refuse(fleet, http, fresh)
    finally:
        if fleet is not None:
            fleet.stop()
        redis.stop()
