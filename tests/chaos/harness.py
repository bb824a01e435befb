"""A chaotic run end to end: a private Redis, two instances of two workers behind nginx on the
test's PostgreSQL, the clients and the fault injector for a while, then a last sweep."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.accounts import Account, Admin, enrol_totp
from tests.chaos.checker import SessionRow
from tests.chaos.client import Client
from tests.chaos.faults import FaultInjector
from tests.chaos.history import History
from tests.chaos.recorder import Recorder, refresh_headers
from tests.chaos.signin import log_in_admin, login
from tests.chaos.workload import step
from tests.helpers.database import add_user, execute
from tests.helpers.defaults import PASSWORD
from tests.helpers.fleet import Fleet, HarnessUnavailable, require, start_fleet
from tests.helpers.processes import free_port, port_open, stop_process
from tests.helpers.waiting import wait_for

# Wrong passwords are part of the load: the throttle must not turn them into lock-outs.
GENEROUS_LIMITS = {
    "AUTHSVC_LOGIN_LIMIT_ACCOUNT": "100000/hour",
    "AUTHSVC_LOGIN_LIMIT_CLIENT_ACCOUNT": "100000/minute",
    "AUTHSVC_LOGIN_LIMIT_CLIENT": "100000/hour",
}


@dataclass(frozen=True)
class ChaosConfig:
    """What a run does; every field can be set from the environment to repeat or widen one."""

    seed: str
    seconds: float
    clients: int
    users: int
    cache: str  # the token-version cache: postgres (LISTEN/NOTIFY) or redis (pub/sub)

    @classmethod
    def from_env(cls, *, seconds: float) -> ChaosConfig:
        return cls(
            seed=os.environ.get("CHAOS_SEED") or secrets.token_hex(4),
            seconds=float(os.environ.get("CHAOS_SECONDS", seconds)),
            clients=int(os.environ.get("CHAOS_CLIENTS", "4")),
            users=int(os.environ.get("CHAOS_USERS", "4")),
            cache=os.environ.get("CHAOS_CACHE", "postgres"),
        )

    def reproduce(self) -> str:
        return (
            f"CHAOS_SEED={self.seed} CHAOS_SECONDS={self.seconds:g} CHAOS_CLIENTS={self.clients} "
            f"CHAOS_USERS={self.users} CHAOS_CACHE={self.cache} make chaos"
        )


@dataclass
class ChaosRun:
    history: History
    rows: list[SessionRow]
    faults: list[str]


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise HarnessUnavailable("redis-server is not installed (Debian package redis-server)")
    return binary


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A Redis server of this run's own: CLIENT PAUSE must not stall anyone else's."""
    binary = require(redis_server_binary)
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: port_open(port), timeout=30, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)


def accounts(database_url: str, count: int) -> tuple[list[Account], Admin]:
    users = [f"rider{number}" for number in range(count)]
    made = [Account(name, add_user(database_url, name, PASSWORD)) for name in users]
    add_user(database_url, "operator", PASSWORD, roles=["admin"])
    return made, Admin("operator")


def run_chaos(database_url: str, workdir: Path, config: ChaosConfig) -> ChaosRun:
    """Drive the fleet for `config.seconds` under faults; the history and the final rows."""
    users, admin = accounts(database_url, config.users)
    with private_redis(workdir / "redis") as redis_url:
        fleet = require(
            lambda: start_fleet(
                database_url,
                workdir / "fleet",
                size=2,
                AUTHSVC_WORKERS="2",
                AUTHSVC_REDIS_URL=redis_url,
                AUTHSVC_TOKEN_VERSION_CACHE=config.cache,
                **GENEROUS_LIMITS,
            )
        )
        try:
            history = History()
            injector = FaultInjector(fleet, database_url, redis_url, history, config.seed)
            drive(fleet, history, users, admin, injector, config)
            sweep(fleet, history)
        finally:
            fleet.stop()
    return ChaosRun(history, session_rows(database_url), injector.injected)


def drive(
    fleet: Fleet,
    history: History,
    users: list[Account],
    admin: Admin,
    injector: FaultInjector,
    config: ChaosConfig,
) -> None:
    """The clients until the time is up, the injector beside them; every instance up after."""
    first = Client(Recorder(fleet.url, history), users, admin, random.Random(config.seed))
    log_in_admin(first)
    # Every other user signs in with a second factor: their logins take two steps.
    for account in users[::2]:
        enrol_totp(fleet.url, account)
    for account in users:
        login(first, account, generation=0)
    first.http.close()
    deadline = time.monotonic() + config.seconds

    def client(number: int) -> None:
        rng = random.Random(f"{config.seed}-{number}")
        recorder = Recorder(fleet.url, history)
        try:
            actor = Client(recorder, users, admin, rng)
            while time.monotonic() < deadline:
                step(actor)
                time.sleep(rng.uniform(0.01, 0.05))
        finally:
            recorder.close()

    faults = threading.Thread(target=injector.run)
    faults.start()
    try:
        with ThreadPoolExecutor(max_workers=config.clients) as pool:
            for done in [pool.submit(client, number) for number in range(config.clients)]:
                done.result()
    finally:
        injector.stop.set()
        faults.join()
    for instance in fleet.instances:
        if not instance.alive():
            instance.start()


def sweep(fleet: Fleet, history: History) -> None:
    """Present every device's last refresh token once more: what must be dead must refuse."""
    recorder = Recorder(fleet.url, history)
    try:
        for device in history.live_devices():
            if device.refresh is not None:
                recorder.call(
                    "refresh",
                    device.user,
                    "POST",
                    "/refresh",
                    headers=refresh_headers(device.refresh, device.csrf),
                    device=device.id,
                    token_from=device.refresh_from,
                )
    finally:
        recorder.close()


def session_rows(database_url: str) -> list[SessionRow]:
    rows = execute(
        database_url,
        "SELECT s.id, u.username, s.ended_at IS NULL FROM sessions s "
        "JOIN users u ON u.id = s.user_id",
    )
    return [
        SessionRow(sid=str(sid), user=str(user), alive=bool(alive)) for sid, user, alive in rows
    ]
