"""The fault injector: it cuts the push channels' connections, pauses Redis, and stops an
instance (SIGTERM, or SIGKILL of the whole instance) and starts it again, declaring each fault's
window (from the fault until the service has recovered) in the history."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import redis

from tests.chaos.bounds import RECOVERY_MARGIN_SECONDS
from tests.chaos.history import Fault, History
from tests.helpers.database import execute
from tests.helpers.fleet import Fleet
from tests.helpers.processes import LiveServer
from tests.helpers.sessions import PUSH_BOUND_SECONDS

# Every LISTEN connection of this database: the token-version cache's and the key listener's.
LISTENERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND (application_name LIKE 'authsvc-%' OR query ILIKE 'LISTEN %')"
)


def descendants(pid: int) -> list[int]:
    """The processes this one started, and theirs (uvicorn's workers), read from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def kill_instance(instance: LiveServer) -> None:
    """SIGKILL the instance and its workers at once, as the OOM killer ends a container."""
    process = instance.process
    if process is None:
        return
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


class FaultInjector:
    """Injects one fault at a time at seeded random moments until stopped."""

    def __init__(
        self, fleet: Fleet, database_url: str, redis_url: str, history: History, seed: str
    ) -> None:
        self.fleet = fleet
        self.database_url = database_url
        self.redis_url = redis_url
        self.history = history
        self.rng = random.Random(f"{seed}-faults")
        self.stop = threading.Event()
        self.injected: list[str] = []

    def run(self) -> None:
        faults = [
            (self.cut_listeners, 3),
            (self.pause_redis, 2),
            (self.stop_instance, 2),
            (self.kill_instance, 2),
        ]
        moves, weights = zip(*faults, strict=True)
        while not self.stop.wait(self.rng.uniform(1.5, 4.0)):
            self.rng.choices(moves, weights)[0]()

    def _declare(self, kind: str, started: float, ended: float, detail: str = "") -> None:
        self.history.add_fault(Fault(kind, started, ended, detail))
        self.injected.append(kind)

    def cut_listeners(self) -> None:
        """pg_terminate_backend on every LISTEN connection: announcements may be lost."""
        started = time.monotonic()
        cut = len(execute(self.database_url, LISTENERS))
        # The listeners notice at once, read the database meanwhile, and subscribe again.
        self._declare("listeners_cut", started, time.monotonic() + PUSH_BOUND_SECONDS, f"{cut}")

    def pause_redis(self) -> None:
        """CLIENT PAUSE: every Redis client (throttle, publisher, listener) waits."""
        pause = self.rng.uniform(0.3, 1.5)
        client = redis.Redis.from_url(self.redis_url)
        try:
            started = time.monotonic()
            client.client_pause(int(pause * 1000))
        finally:
            client.close()
        self._declare("redis_paused", started, started + pause + PUSH_BOUND_SECONDS, f"{pause}s")

    def stop_instance(self) -> None:
        self._restart("sigterm")

    def kill_instance(self) -> None:
        self._restart("sigkill")

    def _restart(self, how: str) -> None:
        """Stop one instance (the other stays up) and start it again on the same port."""
        instance = self.rng.choice(self.fleet.instances)
        if not all(member.alive() for member in self.fleet.instances):
            return
        started = time.monotonic()
        if how == "sigterm":
            instance.stop()
        else:
            kill_instance(instance)
        instance.start()
        ended = time.monotonic() + RECOVERY_MARGIN_SECONDS
        self._declare(f"instance_{how}", started, ended, f"port {instance.port}")
