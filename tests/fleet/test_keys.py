"""Key rotation and revocation across a real fleet (3 instances + nginx) under continuous load.

Real processes cannot share the FakeClock, so the timeline is made short through settings:
each instance reloads its key ring every second (the documented bound), downstream JWKS caches
may not cache (max-age 0), and a new key is published 3 s before it signs. The last test keeps
a refresh of a minute instead: there only the announcement of the change can reach the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from authsvc.storage.engine import make_engine
from tests.helpers.cli import cli_json
from tests.helpers.cookies import CSRF as CSRF_COOKIE
from tests.helpers.cookies import REFRESH as REFRESH_COOKIE
from tests.helpers.cookies import access_token_of, refresh_token_of
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.fleet import FLEET_ISSUER, Fleet, measurements, require, start_fleet
from tests.helpers.headers import bearer, csrf_token
from tests.helpers.keys import jwks_kids_at, kid_of
from tests.helpers.load import Answer, Load, wait_on_each
from tests.helpers.login import bearer_token_sync, log_in_sync
from tests.helpers.sessions import PUSH_BOUND_SECONDS
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.server, pytest.mark.postgres]

REFRESH = 1.0
FAST_KEYS = {
    "AUTHSVC_KEY_REFRESH_SECONDS": "1",
    "AUTHSVC_JWKS_MAX_AGE_SECONDS": "0",
    "AUTHSVC_KEY_PUBLISH_AHEAD_SECONDS": "3",
    # Long enough that no token of the run expires: every refusal here is about keys.
    "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "300",
}
# The periodic refresh far away: what reaches the instances sooner was announced to them.
ANNOUNCED_KEYS = {
    "AUTHSVC_KEY_REFRESH_SECONDS": "60",
    "AUTHSVC_JWKS_MAX_AGE_SECONDS": "0",
    "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "300",
}
# An announced change arrives within the push delay, long before the 60 s refresh.
ANNOUNCED_BOUND = PUSH_BOUND_SECONDS
# The probes measure from outside, through HTTP, on a small machine under load: request latency
# and the 20 ms polling add to the bound itself.
SLACK = 1.0
USERS = [f"user{number}" for number in range(6)]


@pytest.fixture
def key_fleet(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Fleet, str]]:
    for username in USERS:
        add_user(postgres_url, username, PASSWORD)
    fleet = require(lambda: start_fleet(postgres_url, tmp_path / "fleet", size=3, **FAST_KEYS))
    yield fleet, postgres_url
    fleet.stop()


def standing_tokens(fleet: Fleet) -> list[str]:
    """One token per target, issued before the change under test."""
    targets = [fleet.url, *(instance.url for instance in fleet.instances)]
    with httpx.Client(timeout=15) as http:
        return [bearer_token_sync(http, USERS[n], at=target) for n, target in enumerate(targets)]


def key_times(database_url: str, kid: str) -> dict[str, datetime | None]:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT state, activate_at, activated_at FROM signing_keys WHERE kid = :k"),
                {"k": kid},
            ).one()
    finally:
        engine.dispose()
    return {"state": row.state, "activate_at": row.activate_at, "activated_at": row.activated_at}


class SigningProbe:
    """Asks each instance which key it signs with now by spending a refresh token there: a
    refresh signs at once, where a login first computes a password hash, which on a loaded
    machine (the hash runs niced) can alone take longer than the bound under test."""

    def __init__(self, fleet: Fleet, username: str):
        # url -> the refresh token to spend next, and the CSRF token a page would echo
        self._held: dict[str, tuple[str, str]] = {}
        with httpx.Client(timeout=15) as http:
            for instance in fleet.instances:
                login = log_in_sync(http, username, at=instance.url)
                self._held[instance.url] = (refresh_token_of(login), csrf_token(http))
                http.cookies.clear()

    def signs_with(self, kid: str) -> Callable[[httpx.Client, str], bool]:
        def reached(http: httpx.Client, url: str) -> bool:
            refresh, csrf = self._held[url]
            answer = http.post(
                f"{url}/refresh",
                headers={
                    "Cookie": f"{REFRESH_COOKIE}={refresh}; {CSRF_COOKIE}={csrf}",
                    "Origin": FLEET_ISSUER,
                    "X-CSRF-Token": csrf,
                },
            )
            http.cookies.clear()
            assert answer.status_code == 200, answer.text
            self._held[url] = (refresh_token_of(answer), csrf)
            return kid_of(access_token_of(answer)) == kid

        return reached


def refused(answers: list[Answer]) -> list[Answer]:
    return [answer for answer in answers if answer.status != 200]


def report(what: str, since: float, reached: dict[int, float]) -> None:
    each = ", ".join(f":{port} {at - since:.2f}s" for port, at in sorted(reached.items()))
    measurements.append(f"{what}: {each}; every instance {max(reached.values()) - since:.2f}s")


def test_a_planned_rotation_under_load_refuses_nothing_and_reaches_every_instance(
    key_fleet: tuple[Fleet, str],
) -> None:
    fleet, database_url = key_fleet
    standing = standing_tokens(fleet)
    old_kid = kid_of(standing[0])
    assert {kid_of(token) for token in standing} == {old_kid}
    probe = SigningProbe(fleet, USERS[0])
    load = Load(fleet, USERS, standing)
    with load.running():
        wait_for(lambda: len(load.answers) >= 20, timeout=20, what="the load to get going")
        started = time.time()
        new_kid = cli_json(database_url, "keys", "rotate", **FAST_KEYS)["kid"]
        published = wait_on_each(
            fleet, lambda http, url: new_kid in jwks_kids_at(http, url), timeout=10
        )
        switched = wait_on_each(fleet, probe.signs_with(new_kid), timeout=15)
        # Keep the load on a little after the switch, across every instance's next refresh.
        settled = time.time()
        wait_for(
            lambda: len(load.since(settled + REFRESH)) >= 20, timeout=20, what="load after switch"
        )

    times = key_times(database_url, new_kid)
    assert times["state"] == "active"
    assert key_times(database_url, old_kid)["state"] == "retiring"
    activate_at, activated_at = times["activate_at"], times["activated_at"]
    assert activate_at is not None and activated_at is not None
    activated = activated_at.timestamp()
    report("rotation: new key published (from `keys rotate`)", started, published)
    report("rotation: new key signing (from its activation)", activated, switched)
    for port in published:
        assert published[port] - started <= REFRESH + SLACK, port
        assert switched[port] - activated <= REFRESH + SLACK, port
    # Activation itself happens at the first refresh after activate_at, on whichever instance.
    assert 0 <= activated - activate_at.timestamp() <= REFRESH + SLACK

    run = load.since(started)
    assert len([answer for answer in run if answer.kind == "login"]) >= 10
    # Zero valid requests refused: no login, no fresh token, no token of the old key.
    assert refused(load.answers) == []
    kids_checked = {answer.kid for answer in run if answer.kind == "session"}
    assert kids_checked == {old_kid, new_kid}
    late_logins = [a for a in run if a.kind == "login" and a.at > max(switched.values()) + 0.5]
    assert late_logins
    assert {answer.kid for answer in late_logins} == {new_kid}
    with httpx.Client(timeout=15) as http:
        assert jwks_kids_at(http, fleet.url) == {old_kid, new_kid}


def test_revoking_the_active_key_under_load_reaches_every_instance_and_logins_keep_working(
    key_fleet: tuple[Fleet, str],
) -> None:
    fleet, database_url = key_fleet
    standing = standing_tokens(fleet)
    compromised = kid_of(standing[0])
    probe = SigningProbe(fleet, USERS[0])
    load = Load(fleet, USERS, standing)
    with load.running():
        wait_for(lambda: len(load.answers) >= 20, timeout=20, what="the load to get going")
        started = time.time()
        revoked = cli_json(database_url, "keys", "revoke", "--", compromised, **FAST_KEYS)
        successor = revoked["successor"]
        assert revoked["revoked"] == compromised and successor not in (None, compromised)

        def refuses(http: httpx.Client, url: str) -> bool:
            answer = http.get(f"{url}/session", headers=bearer(standing[0]))
            return answer.status_code == 401 and answer.json()["error"] == "key_revoked"

        # Both probes at once, so that neither measurement includes the other's wait.
        with ThreadPoolExecutor(max_workers=2) as probes:
            refusing_probe = probes.submit(wait_on_each, fleet, refuses, timeout=10)
            switched_probe = probes.submit(
                wait_on_each, fleet, probe.signs_with(successor), timeout=10
            )
            refusing, switched = refusing_probe.result(), switched_probe.result()
        settled = time.time()
        wait_for(
            lambda: len(load.since(settled + REFRESH)) >= 20, timeout=20, what="load after revoke"
        )

    report("revoke: old key refused (from `keys revoke`)", started, refusing)
    report("revoke: successor signing (from `keys revoke`)", started, switched)
    for port in refusing:
        assert refusing[port] - started <= REFRESH + SLACK, port
        assert switched[port] - started <= REFRESH + SLACK, port

    run = load.since(started)
    logins = [answer for answer in run if answer.kind == "login"]
    assert len(logins) >= 10
    # New logins keep working throughout, on every instance.
    assert refused(logins) == []
    assert {answer.port for answer in logins} == {instance.port for instance in fleet.instances}
    checks = [answer for answer in run if answer.kind == "session"]
    # A successor's token is accepted even by an instance that has not refreshed yet (it
    # reloads on the unknown kid); the only refusals are of the revoked key, by its name.
    assert refused([answer for answer in checks if answer.kid != compromised]) == []
    assert {(a.status, a.error) for a in refused(checks)} <= {(401, "key_revoked")}
    # Once an instance has refused it, it never accepts the revoked key again.
    for answer in checks:
        if answer.kid == compromised and answer.at > refusing[answer.port] + 0.3:
            assert (answer.status, answer.error) == (401, "key_revoked"), answer
    late_logins = [a for a in logins if a.at > max(switched.values()) + 0.5]
    assert late_logins
    assert {answer.kid for answer in late_logins} == {successor}

    with httpx.Client(timeout=15) as http:
        fresh = bearer_token_sync(http, USERS[1], at=fleet.url)
        for instance in fleet.instances:
            assert jwks_kids_at(http, instance.url) == {successor}
            assert http.get(f"{instance.url}/session", headers=bearer(fresh)).status_code == 200
            for token in standing:
                gone = http.get(f"{instance.url}/session", headers=bearer(token))
                assert (gone.status_code, gone.json()["error"]) == (401, "key_revoked")


@pytest.fixture
def announced_key_fleet(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Fleet, str]]:
    for username in USERS:
        add_user(postgres_url, username, PASSWORD)
    fleet = require(lambda: start_fleet(postgres_url, tmp_path / "fleet", size=3, **ANNOUNCED_KEYS))
    yield fleet, postgres_url
    fleet.stop()


def test_a_revoked_key_is_refused_by_every_instance_within_a_second_under_load(
    announced_key_fleet: tuple[Fleet, str],
) -> None:
    fleet, database_url = announced_key_fleet
    standing = standing_tokens(fleet)
    compromised = kid_of(standing[0])
    load = Load(fleet, USERS, standing)
    with load.running():
        wait_for(lambda: len(load.answers) >= 20, timeout=20, what="the load to get going")
        cli_json(database_url, "keys", "revoke", "--", compromised, **ANNOUNCED_KEYS)
        committed = time.time()

        def refuses(http: httpx.Client, url: str) -> bool:
            answer = http.get(f"{url}/session", headers=bearer(standing[0]))
            return answer.status_code == 401 and answer.json()["error"] == "key_revoked"

        refusing = wait_on_each(fleet, refuses, timeout=10)
        settled = time.time()
        wait_for(lambda: len(load.since(settled)) >= 20, timeout=20, what="load after revoke")

    report("key revoke, announced (refresh 60 s): old key refused", committed, refusing)
    for port, at in refusing.items():
        assert at - committed < ANNOUNCED_BOUND, port
    # Once an instance has refused it, it never accepts the revoked key again.
    for answer in load.since(committed):
        if (
            answer.kind == "session"
            and answer.kid == compromised
            and answer.at > refusing[answer.port]
        ):
            assert (answer.status, answer.error) == (401, "key_revoked"), answer
    assert refused([a for a in load.since(committed) if a.kind == "login"]) == []
