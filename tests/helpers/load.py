"""A bounded, continuous load on a fleet, recording every answer, and propagation probes.

Every worker logs in (through nginx and directly on each instance in turn), checks the fresh
token on the next target at once, and re-checks tokens issued before the change under test;
each answer is kept with the instance that gave it, so a test can say exactly what was refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.helpers.cookies import ACCESS
from tests.helpers.fleet import Fleet
from tests.helpers.headers import bearer
from tests.helpers.keys import kid_of
from tests.helpers.login import credentials


@dataclass(frozen=True)
class Answer:
    at: float  # time.time(), comparable with timestamps the instances write
    kind: str  # "login" or "session"
    port: int  # the instance that answered
    kid: str  # the key of the token issued (login) or presented (session)
    status: int
    error: str | None


def answered_by(fleet: Fleet, target: str, response: httpx.Response) -> int:
    return fleet.by_upstream(response).port if target == fleet.url else int(target.rsplit(":")[-1])


@dataclass
class Load:
    """Workers that log in and check tokens until stopped; bounded by the caller's timeline."""

    fleet: Fleet
    usernames: list[str]
    standing: list[str]
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def targets(self) -> list[str]:
        return [self.fleet.url, *(instance.url for instance in self.fleet.instances)]

    def _record(self, kind: str, target: str, response: httpx.Response, kid: str) -> None:
        error = response.json().get("error") if response.status_code != 200 else None
        answer = Answer(
            at=time.time(),
            kind=kind,
            port=answered_by(self.fleet, target, response),
            kid=kid,
            status=response.status_code,
            error=error,
        )
        with self._lock:
            self.answers.append(answer)

    def _work(self, worker: int) -> None:
        targets = self.targets
        step = worker
        with httpx.Client(timeout=15) as http:
            while not self._stop.is_set():
                target, other = targets[step % len(targets)], targets[(step + 1) % len(targets)]
                username = self.usernames[step % len(self.usernames)]
                response = http.post(f"{target}/login", json=credentials(username))
                # Tokens travel as bearer headers; the client must not replay the cookie.
                http.cookies.clear()
                token = response.cookies.get(ACCESS) if response.status_code == 200 else None
                self._record("login", target, response, kid_of(token) if token else "")
                checks = [token] if token else []
                checks.append(self.standing[step % len(self.standing)])
                for presented in checks:
                    seen = http.get(f"{other}/session", headers=bearer(presented))
                    self._record("session", other, seen, kid_of(presented))
                step += 1

    @contextmanager
    def running(self, workers: int = 3) -> Iterator[Load]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._work, worker) for worker in range(workers)]
            try:
                yield self
            finally:
                self._stop.set()
                for future in futures:
                    future.result()

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.at >= moment]


def wait_on_each(
    fleet: Fleet, reached: Callable[[httpx.Client, str], bool], *, timeout: float
) -> dict[int, float]:
    """When (time.time()) `reached` first held on each instance, polled every 20 ms."""
    took: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as http:
        while len(took) < len(fleet.instances):
            assert time.monotonic() < deadline, f"only {sorted(took)} reached in {timeout}s"
            for instance in fleet.instances:
                if instance.port not in took and reached(http, instance.url):
                    took[instance.port] = time.time()
            time.sleep(0.02)
    return took
