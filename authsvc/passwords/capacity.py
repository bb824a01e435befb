"""Password work bounded to the cores, so that argon2 cannot starve every other request.

Each hash or verification takes a core (and 19 MiB) for tens of milliseconds. Run in the
threadpool without a bound, a burst of logins would take every core and thread from the
requests that only check a token; here at most `workers` run at once, a few more wait briefly,
and the rest are refused at once with `PasswordWorkBusy` (503 and Retry-After).

The hashing itself runs on threads of its own at a lower CPU priority (nice 19 by default).
argon2 releases the GIL while it computes, so the event loop and a hash compete only for the
core, and the scheduler then hands the core to the event loop as soon as a request arrives:
during a login storm on one core, GET /session's p99 stayed at 1.4-1.7x its idle value,
against 2.7-3.0x with the hash at the requests' priority. These threads run nothing but the
hashing call: a lowered thread that ran the rest of a login (Python, holding the GIL) could be
preempted while every request waits for that GIL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import NoReturn

from authsvc.errors import PasswordWorkBusy
from authsvc.passwords.hashing import PasswordHasher, Verification

logger = logging.getLogger("authsvc")


def _lowered(niceness: int) -> Callable[[], None]:
    """A thread initializer that lowers the calling thread's priority by `niceness`."""

    def lower() -> None:
        if niceness == 0:
            return
        try:
            # Linux applies a nice value per thread, named by its thread id; added to the
            # thread's own, so a service started niced is never raised.
            thread = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, current + niceness))
        except (AttributeError, OSError):
            # Not Linux: the hash runs at the requests' priority, bounded all the same.
            logger.debug("password hashing runs at normal priority here", exc_info=True)

    return lower


class BoundedHasher:
    """A PasswordHasher that runs at most `workers` password operations at once.

    Beyond them, up to `queue` callers wait at most `wait` seconds for a slot; the others, and
    those whose wait ran out, get PasswordWorkBusy. Waiting holds a threadpool thread, hence
    the small queue: the threads stay free for the requests that hash nothing.
    """

    def __init__(
        self,
        inner: PasswordHasher,
        *,
        workers: int,
        queue: int,
        wait: float,
        niceness: int = 0,
    ):
        if workers < 1 or queue < 0 or wait < 0 or not 0 <= niceness <= 19:
            raise ValueError("workers >= 1, queue >= 0, wait >= 0 and 0 <= niceness <= 19")
        self.inner = inner
        self.workers = workers
        self.queue = queue
        self.wait = wait
        self._slots = threading.BoundedSemaphore(workers)
        self._waiting = 0
        self._lock = threading.Lock()
        self._retry_after = str(max(1, math.ceil(wait)))
        # As many threads as slots: a caller holding a slot never waits for a thread.
        self._threads = ThreadPoolExecutor(
            workers, "authsvc-password-hashing", initializer=_lowered(niceness)
        )

    def hash(self, password: str) -> str:
        with self._slot():
            return self._threads.submit(self.inner.hash, password).result()

    def verify(self, password: str, stored_hash: str) -> Verification:
        with self._slot():
            return self._threads.submit(self.inner.verify, password, stored_hash).result()

    def verify_dummy(self, password: str) -> None:
        with self._slot():
            self._threads.submit(self.inner.verify_dummy, password).result()

    @property
    def waiting(self) -> int:
        return self._waiting

    def close(self) -> None:
        """Lets the hashing threads end once the work already handed to them is done."""
        self._threads.shutdown(wait=False)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            self._queue_for_slot()
        try:
            yield
        finally:
            self._slots.release()

    def _queue_for_slot(self) -> None:
        with self._lock:
            if self._waiting >= self.queue:
                raise self._busy()
            self._waiting += 1
        try:
            acquired = self._slots.acquire(timeout=self.wait) if self.wait > 0 else False
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise self._busy()

    def _busy(self) -> PasswordWorkBusy:
        return PasswordWorkBusy(headers={"Retry-After": self._retry_after})


class PasswordGate:
    """Admission for the requests that hash a password, held for the whole request.

    At most `workers` such requests run at once; up to `queue` more wait at most `wait`
    seconds on the event loop, where waiting costs neither a threadpool thread nor a database
    connection (a request waiting inside the route would hold both, and the token checks need
    them); the rest get PasswordWorkBusy after `busy_pause` seconds. The pause costs a timer;
    without it, a client that retries at once, whatever Retry-After says, spends the core the
    hashes and the token checks share on being refused, as often as it can send.
    """

    def __init__(self, *, workers: int, queue: int, wait: float, busy_pause: float = 0.0):
        if workers < 1 or queue < 0 or wait < 0 or busy_pause < 0:
            raise ValueError("workers >= 1, queue >= 0, wait >= 0 and busy_pause >= 0")
        self.workers = workers
        self.queue = queue
        self.wait = wait
        self.busy_pause = busy_pause
        self.waiting = 0
        # Made on first use, in the event loop that serves the app.
        self._slots: asyncio.Semaphore | None = None
        self._retry_after = str(max(1, math.ceil(wait)))

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    async def refuse_if_full(self) -> None:
        """PasswordWorkBusy (after the pause) if a request arriving now could get neither a slot
        nor a place in the queue: the answer `enter` would give, without anything else asked
        first."""
        if self._slots is not None and self._slots.locked() and self.waiting >= self.queue:
            await self._refuse()

    async def enter(self) -> None:
        """Take a slot, waiting for one if the queue has room; PasswordWorkBusy otherwise."""
        slots = self._slots = self._slots or asyncio.Semaphore(self.workers)
        if not slots.locked():
            await slots.acquire()
            return
        if self.waiting >= self.queue:
            await self._refuse()
        self.waiting += 1
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self.wait)
        except TimeoutError:
            raise self._busy() from None
        finally:
            self.waiting -= 1

    def leave(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _refuse(self) -> NoReturn:
        if self.busy_pause:
            await asyncio.sleep(self.busy_pause)
        raise self._busy()

    def _busy(self) -> PasswordWorkBusy:
        return PasswordWorkBusy(headers={"Retry-After": self._retry_after})
