"""Several real instances on one PostgreSQL behind a real nginx: what holds across the fleet."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from tests.helpers.processes import free_port
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.server, pytest.mark.postgres]

COOKIE = "authsvc_at"


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
    # The very next request on every instance refuses the old token.
    for instance in fleet.instances:
        response = httpx.get(f"{instance.url}/session", cookies={COOKIE: token}, timeout=15)
        assert response.status_code == 401, instance.url
        assert response.json()["error"] == "token_revoked"


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


def test_killing_an_instance_under_load_loses_no_session(fleet: Fleet, fleet_database: str) -> None:
    users = [f"user{number}" for number in range(6)]
    for username in users:
        add_user(fleet_database, username, PASSWORD)
    tokens = {username: log_in_at(fleet.url, username).cookies[COOKIE] for username in users}
    victim = fleet.instances[1]
    statuses: Counter[int] = Counter()
    done = Counter[str]()
    lock = threading.Lock()
    killed = threading.Event()

    def load(username: str) -> None:
        with httpx.Client(
            base_url=fleet.url, cookies={COOKIE: tokens[username]}, timeout=15
        ) as http:
            for _ in range(40):
                status = http.get("/session").status_code
                with lock:
                    statuses[status] += 1
                    done["requests"] += 1
                    if done["requests"] == 60 and not killed.is_set():
                        victim.kill()
                        killed.set()

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        list(pool.map(load, users))

    assert killed.is_set()
    assert not victim.alive()
    # nginx routed around the dead instance: every request of the run succeeded.
    assert statuses == Counter({200: 40 * len(users)})
    # No data lost: every session still exists in the shared database and works everywhere.
    engine = make_engine(fleet_database, pool_size=1)
    with engine.connect() as connection:
        open_sessions = connection.execute(
            text("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
        ).scalar_one()
    engine.dispose()
    assert open_sessions == len(users)
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
        # No restart of authsvc: each instance's pool notices the new server by itself.
        for instance in fleet.instances:
            assert instance.alive()
            assert session_status(instance.url, token) == 200
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
                                "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE users%'"
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
