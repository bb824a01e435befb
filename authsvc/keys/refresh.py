"""Keeps each instance's key ring current: lifecycle transitions, then a reload from the database.

Every instance runs this at most every AUTHSVC_KEY_REFRESH_SECONDS, measured on the injected
clock: when a request finds the ring older than that, and from a background task when there is
no traffic. The instance that drives a transition sees it at once; the others within one
refresh interval, which is the bound the rotation timeline is built on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from authsvc.clock import Clock
from authsvc.errors import Conflict, KeyDecryptionError, RaceLost
from authsvc.keys import lifecycle
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.material import all_keys
from authsvc.keys.ring import KeyRing, decrypt_signer
from authsvc.tokens.access import read_header

logger = logging.getLogger("authsvc.keys")

# A token naming a kid the ring does not know may come from an instance that refreshed first
# (e.g. right after an emergency revoke); reload early, but at most this often, so that made-up
# kids cannot turn into a database query each.
UNKNOWN_KID_RELOAD_GAP = timedelta(milliseconds=250)


class KeyRingHolder:
    """The current key ring; replaced whole, so readers never see half an update.

    Reading `ring` refreshes it first when it is due, so every code path that signs or verifies
    honours the refresh bound without having to remember to ask.
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        clock: Clock,
        refresh: Callable[[KeyRing], KeyRing] | None = None,
        interval: timedelta = timedelta(seconds=10),
    ):
        self._ring = ring
        self._clock = clock
        self._refresh = refresh
        self._interval = interval
        self._next_refresh = clock.now() + interval
        self._last_reload = clock.now()
        self._lock = threading.Lock()

    @property
    def ring(self) -> KeyRing:
        self.refresh_if_due()
        return self._ring

    @ring.setter
    def ring(self, ring: KeyRing) -> None:
        self._ring = ring

    def refresh_if_due(self) -> None:
        if self._refresh is None or self._clock.now() < self._next_refresh:
            return
        # One refresh at a time; everyone else keeps using the current ring meanwhile.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._reload()
        finally:
            self._lock.release()

    def ring_for(self, token: str) -> KeyRing:
        """The ring to verify `token` with: reloaded first when it names a kid we have not seen."""
        ring = self.ring
        kid = read_header(token)["kid"]
        if self._refresh is None or _knows(ring, kid):
            return ring
        # Blocking: a reload already under way may be the one that brings this kid.
        with self._lock:
            if not _knows(self._ring, kid) and (
                self._clock.now() - self._last_reload >= UNKNOWN_KID_RELOAD_GAP
            ):
                self._reload()
            return self._ring

    def seconds_until_due(self) -> float:
        if self._refresh is None:
            return self._interval.total_seconds()
        return max(0.0, (self._next_refresh - self._clock.now()).total_seconds())

    def _reload(self) -> None:
        assert self._refresh is not None
        try:
            self._ring = self._refresh(self._ring)
        except DBAPIError as exc:
            # Keep the last good ring: requests that need the database fail closed anyway.
            logger.warning("key ring refresh failed: %s", type(exc.orig).__name__)
        finally:
            self._last_reload = self._clock.now()
            self._next_refresh = self._last_reload + self._interval


def _knows(ring: KeyRing, kid: str) -> bool:
    return kid in ring.verification_keys or kid in ring.withdrawn


class KeyMaintainer:
    """Drives the lifecycle transitions that are due, each its own transaction, then reloads."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        encryptor: KeyEncryptor,
        policy: lifecycle.RotationPolicy,
        clock: Clock,
    ):
        self._session_factory = session_factory
        self._encryptor = encryptor
        self._policy = policy
        self._clock = clock

    def __call__(self, previous: KeyRing) -> KeyRing:
        now = self._clock.now()
        self.advance(now)
        with self._session_factory() as db:
            rows = all_keys(db)
        problem = None
        try:
            signer = decrypt_signer(rows, self._encryptor, previous)
        except KeyDecryptionError as exc:
            # Fail closed for signing (readiness reports it); verification goes on.
            signer, problem = None, str(exc)
        if problem is not None:
            logger.error("cannot use the active signing key: %s", problem)
        return KeyRing.from_rows(rows, signer)

    def advance(self, now: datetime) -> None:
        steps: tuple[Callable[[Session], object], ...] = (
            lambda db: lifecycle.retire_due(db, now=now),
            lambda db: lifecycle.activate_due(db, self._policy, now=now),
            lambda db: lifecycle.rotate_if_due(db, self._encryptor, self._policy, now=now),
        )
        for step in steps:
            with self._session_factory() as db:
                try:
                    step(db)
                    db.commit()
                except (RaceLost, IntegrityError, Conflict):
                    # Another instance made this transition first; its result is what we load.
                    db.rollback()


async def refresh_periodically(holder: KeyRingHolder, interval: timedelta) -> None:
    """Background task: keep an idle instance's ring (and readiness) current."""
    while True:
        # Wake when the ring falls due, not a fixed interval after the last wake-up: a request
        # may have refreshed in between, and a fixed sleep would then leave it stale for up to
        # two intervals instead of one.
        delay = min(max(holder.seconds_until_due(), 0.05), interval.total_seconds())
        await asyncio.sleep(delay)
        try:
            await run_in_threadpool(holder.refresh_if_due)
        except Exception:
            logger.exception("key ring refresh crashed; retrying at the next interval")
