"""Keeps each instance's key ring current: lifecycle transitions, then a reload from the database.

Every key change is announced when it commits (revocation.push), and an instance that hears of
one reloads its ring at once. Beside that, every instance drives the due transitions and reloads
at most every AUTHSVC_KEY_REFRESH_SECONDS, measured on the injected clock: when a request finds
the ring older than that, and from a background task when there is no traffic. That periodic
reload is the fallback the rotation timeline is built on; while the announcements' channel is
lost, the ring is reloaded before use whenever it is older than CHANNEL_LOST_RELOAD_GAP, so a
revocation still takes effect within that gap (fail closed).
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
from authsvc.revocation.push import KeyChangeListener
from authsvc.tokens.access import UnverifiedToken, read_header

logger = logging.getLogger("authsvc.keys")

# A token naming a kid the ring does not know may come from an instance that refreshed first
# (e.g. right after an emergency revoke); reload early, but at most this often, so that made-up
# kids cannot turn into a database query each.
UNKNOWN_KID_RELOAD_GAP = timedelta(milliseconds=250)
# While the channel that announces key changes is lost, a ring older than this is reloaded before
# it is used: a revocation made meanwhile is missed for no longer.
CHANNEL_LOST_RELOAD_GAP = timedelta(milliseconds=250)


class KeyRingHolder:
    """The current key ring; replaced whole, so readers never see half an update.

    Reading `ring` first catches up with announced key changes and refreshes the ring when it is
    due, so every code path that signs or verifies honours both without having to ask. It is
    the KeyChangeHandler of the listener given to `watch`.
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        clock: Clock,
        refresh: Callable[[KeyRing], KeyRing] | None = None,
        load: Callable[[KeyRing], KeyRing] | None = None,
        interval: timedelta = timedelta(seconds=10),
    ):
        self._ring = ring
        self._clock = clock
        self._refresh = refresh
        self._load = load
        self._interval = interval
        self._next_refresh = clock.now() + interval
        self._last_reload = clock.now()
        self._lock = threading.Lock()
        self._listener: KeyChangeListener | None = None
        # Without a listener the periodic refresh is the whole contract, as if a channel were up.
        self._channel_up = True
        # Announcements heard, and how many of them the current ring reflects.
        self._announced = 0
        self._caught_up = 0

    @property
    def ring(self) -> KeyRing:
        if self._caught_up < self._announced:
            self._catch_up()
        self.refresh_if_due()
        return self._ring

    @ring.setter
    def ring(self, ring: KeyRing) -> None:
        self._ring = ring

    def watch(self, listener: KeyChangeListener) -> None:
        """Reload whenever `listener` announces a key change; started here, stopped by close()."""
        self._listener = listener
        self._channel_up = False
        listener.start(self)

    @property
    def watched(self) -> bool:
        """True while a key-change channel is up (always without one: nothing to lose)."""
        return self._channel_up

    def channel_up(self) -> None:
        # Whatever changed while the channel was down was not announced to us.
        self._channel_up = True
        self.keys_changed("", "resubscribed")

    def channel_down(self) -> None:
        self._channel_up = False

    def keys_changed(self, kid: str, state: str) -> None:
        self._announced += 1
        try:
            self._catch_up()
        except DBAPIError as exc:
            # The next use of the ring tries again, and fails closed while the database is down.
            logger.warning("key ring reload after %s %s failed: %s", kid, state, type(exc).__name__)

    def _catch_up(self) -> None:
        """Reload (without driving transitions) until the ring reflects every announcement."""
        if self._load is None:
            return
        with self._lock:
            target = self._announced
            if self._caught_up >= target:
                return  # a reload that began after the announcement has just finished
            self._ring = self._load(self._ring)
            self._caught_up = target
            self._last_reload = self._clock.now()

    def refresh_if_due(self) -> None:
        if self._refresh is None:
            return
        now = self._clock.now()
        if now >= self._next_refresh:
            reload = self._reload
        elif not self._channel_up and now - self._last_reload >= CHANNEL_LOST_RELOAD_GAP:
            reload = self._reload_lost
        else:
            return
        # One refresh at a time; everyone else keeps using the current ring meanwhile.
        if not self._lock.acquire(blocking=False):
            return
        try:
            reload()
        finally:
            self._lock.release()

    def ring_for(self, token: str | UnverifiedToken) -> KeyRing:
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

    def _reload_lost(self) -> None:
        """The channel is down: load the keys (transitions wait for the periodic refresh)."""
        load = self._load or self._refresh
        assert load is not None
        self._ring = load(self._ring)
        self._last_reload = self._clock.now()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()

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
        self.advance(self._clock.now())
        return self.load(previous)

    def load(self, previous: KeyRing) -> KeyRing:
        """The keys as the database holds them now."""
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
