"""Several real instances on one PostgreSQL behind a real nginx: what holds across the fleet."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from authsvc.storage.engine import make_engine
from authsvc.storage.migrations import upgrade_database
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.fleet import (
    FORWARD_AUTH_CONF,
    LOCATIONS_CONF,
    Fleet,
    ThrowawayPostgres,
    fleet_instance,
    nginx_binary,
    require,
    start_fleet,
)
from tests.helpers.headers import bearer
from tests.helpers.login import credentials, log_in_at
from tests.helpers.paths import REPO_ROOT
from tests.helpers.processes import LiveServer, free_port
from tests.helpers.sessions import PUSH_BOUND_SECONDS
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.server, pytest.mark.postgres]

COOKIE = "authsvc_at"
# docs/fleet.md: an instance serves again within about 10 s of the database returning.
RECOVERY_BOUND_SECONDS = 30.0


@pytest.fixture
def fleet_database(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def fleet(fleet_database: str, tmp_path: Path) -> Iterator[Fleet]:
    running = require(lambda: start_fleet(fleet_database, tmp_path / "fleet", size=3))
    yield running
    running.stop()


def cookie_header(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


def session_status(base_url: str, token: str) -> int:
    return httpx.get(f"{base_url}/session", cookies={COOKIE: token}, timeout=15).status_code


def session_status_at_instance(base_url: str, token: str) -> tuple[int, str | None]:
    response = httpx.get(f"{base_url}/session", cookies={COOKIE: token}, timeout=15)
    return response.status_code, response.json().get(
        "error"
    ) if response.status_code != 200 else None


def test_a_login_on_one_instance_is_accepted_by_all_and_logout_everywhere_reaches_all(
    fleet: Fleet, fleet_database: str
) -> None:
    add_user(fleet_database, "alice", PASSWORD)
    first = log_in_at(fleet.url)
    token = first.cookies[COOKIE]
    issuer = fleet.by_upstream(first)
    assert issuer in fleet.instances
    # At once, on every instance, including those that never saw the login.
    for instance in fleet.instances:
        assert session_status(instance.url, token) == 200, instance.url
    served_by = set()
    with httpx.Client(base_url=fleet.url, cookies={COOKIE: token}, timeout=15) as http:
        for _ in range(3 * len(fleet.instances)):
            response = http.get("/session")
            assert response.status_code == 200
            served_by.add(fleet.by_upstream(response).port)
    assert served_by == {instance.port for instance in fleet.instances}

    logout = httpx.post(f"{fleet.url}/logout?everywhere=true", headers=bearer(token), timeout=15)
    assert logout.status_code == 200
    assert logout.json()["everywhere"] is True
    # The instance that revoked refuses the old token on the very next request; the others
    # learn it by push, so within the push delay (docs/sessions.md): polled within its bound.
    revoker = fleet.by_upstream(logout)
    assert session_status_at_instance(revoker.url, token) == (401, "token_revoked")
    deadline = time.monotonic() + PUSH_BOUND_SECONDS
    for instance in fleet.instances:
        while (answer := session_status_at_instance(instance.url, token)) == (200, None):
            assert time.monotonic() < deadline, f"{instance.url} accepted it after the bound"
            time.sleep(0.01)
        assert answer == (401, "token_revoked"), instance.url


def test_metrics_are_per_instance_and_not_served_through_the_balancer(fleet: Fleet) -> None:
    through_nginx = httpx.get(f"{fleet.url}/metrics", timeout=15)
    assert through_nginx.status_code == 404
    assert through_nginx.json()["error"] == "not_found"
    for instance in fleet.instances:
        direct = httpx.get(f"{instance.url}/metrics", timeout=15)
        assert direct.status_code == 200
        assert "authsvc_signing_keys" in direct.text
    # The request id a client sends through nginx comes back from the instance.
    traced = httpx.get(f"{fleet.url}/healthz", headers={"X-Request-ID": "lb-trace-1"}, timeout=15)
    assert traced.headers["x-request-id"] == "lb-trace-1"


@dataclass(frozen=True)
class Attempt:
    """One GET /session through nginx: when it started and ended (monotonic), and how."""

    username: str
    started: float
    ended: float
    status: int | None  # None: the connection broke before a complete answer


def load_until_stopped(
    fleet: Fleet, tokens: dict[str, str], stop_victim: Callable[[], None]
) -> tuple[list[Attempt], float]:
    """Every user asks GET /session in a loop; at the 60th answer, `stop_victim` runs.

    Returns every attempt and the moment (monotonic) the victim had stopped.
    """
    attempts: list[Attempt] = []
    lock = threading.Lock()
    stopped: list[float] = []

    def load(username: str) -> None:
        with httpx.Client(
            base_url=fleet.url, cookies={COOKIE: tokens[username]}, timeout=15
        ) as http:
            for _ in range(40):
                started = time.monotonic()
                try:
                    status: int | None = http.get("/session").status_code
                except httpx.TransportError:
                    status = None
                attempt = Attempt(username, started, time.monotonic(), status)
                with lock:
                    attempts.append(attempt)
                    if len(attempts) == 60:
                        stop_victim()
                        stopped.append(time.monotonic())

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        list(pool.map(load, tokens))
    assert len(stopped) == 1
    return attempts, stopped[0]


def assert_nothing_lost_and_the_victim_rejoins(
    fleet: Fleet, fleet_database: str, tokens: dict[str, str], victim: LiveServer
) -> None:
    """Every session still exists and works everywhere; the restarted instance serves again."""
    engine = make_engine(fleet_database, pool_size=1)
    with engine.connect() as connection:
        open_sessions = connection.execute(
            text("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
        ).scalar_one()
    engine.dispose()
    assert open_sessions == len(tokens)
    survivors = [instance for instance in fleet.instances if instance is not victim]
    for instance in survivors:
        for token in tokens.values():
            assert session_status(instance.url, token) == 200
    # New logins keep working with one instance down.
    log_in_at(fleet.url, "user0")

    # Restarting needs nothing by hand: same command, same port, and nginx uses it again.
    victim.start()
    for token in tokens.values():
        assert session_status(victim.url, token) == 200

    def served_by_victim() -> bool:
        response = httpx.get(f"{fleet.url}/session", cookies={COOKIE: tokens["user0"]}, timeout=15)
        assert response.status_code == 200
        return fleet.by_upstream(response).port == victim.port

    wait_for(served_by_victim, timeout=15, what="nginx to send requests to the restarted instance")


def logged_in_users(fleet: Fleet, fleet_database: str) -> dict[str, str]:
    users = [f"user{number}" for number in range(6)]
    for username in users:
        add_user(fleet_database, username, PASSWORD)
    return {username: log_in_at(fleet.url, username).cookies[COOKIE] for username in users}


def test_stopping_an_instance_under_load_fails_no_request(
    fleet: Fleet, fleet_database: str
) -> None:
    """SIGTERM: the instance drains what it has, nginx routes the rest to the others."""
    tokens = logged_in_users(fleet, fleet_database)
    victim = fleet.instances[1]
    process = victim.process
    assert process is not None
    attempts, _ = load_until_stopped(fleet, tokens, lambda: process.send_signal(signal.SIGTERM))

    # uvicorn re-raises SIGTERM after a clean shutdown, so the exit is "killed by SIGTERM".
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert Counter(attempt.status for attempt in attempts) == Counter({200: 40 * len(tokens)})
    assert_nothing_lost_and_the_victim_rejoins(fleet, fleet_database, tokens, victim)


def test_killing_an_instance_under_load_fails_only_what_it_had_in_flight(
    fleet: Fleet, fleet_database: str
) -> None:
    """SIGKILL: a request the dead instance had already started answering may break (nginx
    cannot replay half an answer); any later one goes elsewhere, a retry succeeds, no session
    is lost."""
    tokens = logged_in_users(fleet, fleet_database)
    victim = fleet.instances[1]
    attempts, dead_at = load_until_stopped(fleet, tokens, victim.kill)

    assert not victim.alive()
    assert len(attempts) == 40 * len(tokens)
    failed = [attempt for attempt in attempts if attempt.status != 200]
    # At most one request per client was in flight, and only one begun before the death.
    assert len(failed) <= len(tokens), failed
    for attempt in failed:
        assert attempt.status in (None, 502), attempt
        assert attempt.started < dead_at, f"a request begun after the kill failed: {attempt}"
        assert session_status(fleet.url, tokens[attempt.username]) == 200
    assert_nothing_lost_and_the_victim_rejoins(fleet, fleet_database, tokens, victim)


def test_postgres_going_down_fails_closed_and_recovers_without_restart(tmp_path: Path) -> None:
    database = require(ThrowawayPostgres)
    fleet: Fleet | None = None
    try:
        database.start()
        upgrade_database(database.url)
        add_user(database.url, "alice", PASSWORD)
        fleet = start_fleet(database.url, tmp_path / "fleet", size=2)
        token = log_in_at(fleet.url).cookies[COOKIE]
        assert session_status(fleet.url, token) == 200

        database.stop()
        with httpx.Client(base_url=fleet.url, timeout=15) as http:
            for _ in range(2 * len(fleet.instances)):
                refused = http.get("/session", headers=cookie_header(token))
                assert refused.status_code == 503
                assert refused.json()["error"] == "service_unavailable"
            login_down = http.post("/login", json=credentials())
            assert login_down.status_code == 503
            assert "set-cookie" not in login_down.headers
            assert http.post("/logout", headers=bearer(token)).status_code == 503
            for instance in fleet.instances:
                assert httpx.get(f"{instance.url}/readyz", timeout=15).status_code == 503
                assert httpx.get(f"{instance.url}/healthz", timeout=15).status_code == 200

        database.start()
        # No restart of authsvc: each instance notices the new server by itself, within the
        # documented ~10 s (listener and key-ring back-offs of at most 5 s each), polled with
        # room for a loaded machine.
        for instance in fleet.instances:
            assert instance.alive()

            def serves(url: str = instance.url) -> bool:
                return session_status(url, token) == 200

            wait_for(
                serves,
                timeout=RECOVERY_BOUND_SECONDS,
                what="the instance to serve again after the database returned",
            )
            assert httpx.get(f"{instance.url}/readyz", timeout=15).status_code == 200
        again = log_in_at(fleet.url)
        assert again.cookies[COOKIE]
    finally:
        if fleet is not None:
            fleet.stop()
        database.destroy()


def test_sigterm_drains_a_request_in_flight(fleet_database: str, tmp_path: Path) -> None:
    user_id = add_user(fleet_database, "alice", PASSWORD)
    instance = fleet_instance(fleet_database, tmp_path)
    instance.start()
    try:
        token = log_in_at(instance.url).cookies[COOKIE]
        locker = make_engine(fleet_database, pool_size=1)
        result: dict[str, httpx.Response] = {}
        with locker.connect() as connection:
            # Hold the user's row so that logout-everywhere is in flight, waiting on the lock.
            transaction = connection.begin()
            connection.execute(
                text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )

            def logout() -> None:
                result["logout"] = httpx.post(
                    f"{instance.url}/logout?everywhere=true",
                    headers=bearer(token),
                    timeout=30,
                )

            worker = threading.Thread(target=logout)
            worker.start()

            def waiting_on_lock() -> bool:
                with locker.connect() as probe:
                    return bool(
                        probe.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity "
                                "WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE users%'"
                            )
                        ).scalar_one()
                    )

            wait_for(waiting_on_lock, timeout=15, what="the logout to wait on the row lock")
            assert instance.process is not None
            instance.process.send_signal(signal.SIGTERM)

            def refusing_new_connections() -> bool:
                try:
                    httpx.get(f"{instance.url}/healthz", timeout=1)
                except httpx.TransportError:
                    return True
                return False

            wait_for(refusing_new_connections, timeout=15, what="the listener to close")
            assert instance.alive(), "the server quit with a request in flight"
            transaction.commit()
        worker.join(timeout=30)
        locker.dispose()
        assert result["logout"].status_code == 200
        assert result["logout"].json()["everywhere"] is True
        # uvicorn re-raises SIGTERM after a clean shutdown, so the exit is "killed by SIGTERM".
        assert instance.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Finished server process" in instance.log()
    finally:
        instance.stop()


def test_the_deploy_nginx_config_is_valid(tmp_path: Path) -> None:
    """deploy/nginx/nginx.conf passes `nginx -t` with the compose host names mapped to loopback."""
    binary = require(nginx_binary)
    conf = (REPO_ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert "authsvc-locations.conf" in conf
    for number in (1, 2, 3):
        conf = conf.replace(f"authsvc-{number}:8000", f"127.0.0.1:{free_port()}")
    conf = conf.replace("app:8080", f"127.0.0.1:{free_port()}")
    conf = conf.replace("/etc/nginx/authsvc-locations.conf", str(LOCATIONS_CONF))
    conf = conf.replace("/etc/nginx/forward-auth.conf", str(FORWARD_AUTH_CONF))
    conf = conf.replace("/tmp/nginx.pid", str(tmp_path / "nginx.pid"))
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{free_port()};")
    (tmp_path / "nginx.conf").write_text(conf)
    checked = subprocess.run(
        [
            binary,
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            "/dev/stderr",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
