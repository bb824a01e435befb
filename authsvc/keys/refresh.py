"""Keeps each instance's key ring current: lifecycle transitions, then a reload from the database.

Every key change is announced when it commits (revocation.channels), and an instance that hears of
one reloads its ring at once. Beside that, every instance drives the due transitions and reloads
at most every AUTHSVC_KEY_REFRESH_SECONDS, measured on the injected clock: when a request finds
the ring older than that, and from a background task when there is no traffic. That periodic
reload is the fallback the rotation timeline is built on; while the announcements' channel is
lost, the ring is reloaded before use whenever it is older than CHANNEL_LOST_RELOAD_GAP, so a
revocation still takes effect within that gap (fail closed). Reloads never run on the event loop
(see KeyRingHolder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from authsvc.clock import Clock
from authsvc.errors import Conflict, KeyDecryptionError, RaceLost, ServiceUnavailable
from authsvc.keys import lifecycle
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.material import all_keys
from authsvc.keys.ring import KeyRing, decrypt_signer
from authsvc.revocation.channels.protocol import KeyChangeListener
from authsvc.tokens.access import UnverifiedToken, read_header

logger = logging.getLogger("authsvc.keys")

# A token naming a kid the ring does not know may come from an instance that refreshed first
# (e.g. right after an emergency revoke); reload early, but at most this often, so that made-up
# kids cannot turn into a database query each.
UNKNOWN_KID_RELOAD_GAP = timedelta(milliseconds=250)
# While the channel that announces key changes is lost, a ring older than this is reloaded before
# it is used: a revocation made meanwhile is missed for no longer.
CHANNEL_LOST_RELOAD_GAP = timedelta(milliseconds=250)
# After a failed reload the next waits UNKNOWN_KID_RELOAD_GAP times 2, 4, 8... per failure in a
# row, at most this long: a database that is down is not asked again for every request.
RELOAD_BACKOFF_MAX = timedelta(seconds=5)


class ReloadPending(Exception):
    """The ring must be reloaded before this use, and the caller runs on the event loop, which
    must not wait: await `wait()` (the reload runs in its own thread) and try again."""

    def __init__(self, reload: Future[None]):
        super().__init__("the key ring is being reloaded")
        self.reload = reload

    async def wait(self) -> None:
        # Its outcome shows when the caller tries again (a 503, or an unknown key).
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(self.reload)


class KeyRingHolder:
    """The current key ring; replaced whole, so readers never see half an update.

    Reading `ring` first catches up with announced key changes and refreshes the ring when it
    is due, so every code path that signs or verifies honours both without having to
    ask. It is the KeyChangeHandler of the listener given to `watch`.

    Every reload runs in the holder's own thread, one at a time: a reader that needs one waits
    for the reload under way (in a thread by blocking; on the event loop `ReloadPending` tells
    it to await), and never starts a second. After a failure the next attempt waits, twice as
    long per failure in a row (RELOAD_BACKOFF_MAX at most): meanwhile a reader that needs a
    current ring is refused at once (503, fail closed) instead of trying the database again.
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
        self._load = load or refresh
        self._interval = interval
        self._next_refresh = clock.now() + interval
        self._last_reload = clock.now()
        # Guards the bookkeeping below; never held while a reload runs.
        self._lock = threading.Lock()
        self._reloading: Future[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_attempt = clock.now()
        self._retry_at = clock.now()
        self._failures = 0
        self._listener: KeyChangeListener | None = None
        # Without a listener the periodic refresh is the whole contract, as if a channel were up.
        self._channel_up = True
        # Announcements heard, and how many of them the current ring reflects.
        self._announced = 0
        self._caught_up = 0
        self._report: Callable[[str, bool], None] = _report_nowhere

    @property
    def ring(self) -> KeyRing:
        if self._load is None:
            return self._ring
        if (
            self._caught_up >= self._announced
            and self._channel_up
            and self._clock.now() < self._next_refresh
        ):
            return self._ring  # the common case, read on every request: nothing to wait for
        # Each turn waits for a reload; announcements (our own transitions' among them) may
        # call for a few in a row, never for more than this.
        for _ in range(8):
            now = self._clock.now()
            if self._stale(now):
                reason = "announced" if self._caught_up < self._announced else "channel_lost"
                self._wait(self._start(now, reason, full=False), fail_closed=True)
            elif self._refresh is not None and now >= self._next_refresh:
                # The rotation timeline counts on no ring serving longer than an interval; if
                # the refresh fails, the last good ring serves until the next one.
                reload = self._start(now, "scheduled", full=True)
                if reload is None:
                    return self._ring
                self._wait(reload, fail_closed=False)
            else:
                return self._ring
        raise ServiceUnavailable("The signing keys are changing; try again.")

    @ring.setter
    def ring(self, ring: KeyRing) -> None:
        self._ring = ring

    def _stale(self, now: datetime) -> bool:
        """True when the ring may not be used before a reload: it misses an announced change,
        or the channel is lost and it is older than CHANNEL_LOST_RELOAD_GAP."""
        return self._caught_up < self._announced or (
            not self._channel_up and now - self._last_reload >= CHANNEL_LOST_RELOAD_GAP
        )

    def report_reloads(self, report: Callable[[str, bool], None]) -> None:
        """Tell `report` the reason and success of every reload from now on: "scheduled",
        "announced" (a key change was announced), "channel_lost" (no announcements can come),
        "unknown_kid" (a token named a key the ring does not hold)."""
        self._report = report

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
        """Reload at once (in the background); readers wait until the ring reflects this."""
        with self._lock:
            self._announced += 1
        if self._load is not None:
            self._start(self._clock.now(), "announced", full=False)

    def refresh_if_due(self) -> None:
        """Start the periodic refresh if it is due and wait for its outcome (off the loop)."""
        now = self._clock.now()
        if self._refresh is None or now < self._next_refresh:
            return
        reload = self._start(now, "scheduled", full=True)
        if reload is not None:
            with contextlib.suppress(Exception):  # logged by the reload itself
                reload.result()

    def ring_for(self, token: str | UnverifiedToken) -> KeyRing:
        """The ring to verify `token` with: reloaded first when it names a kid we have not seen."""
        ring = self.ring
        kid = read_header(token)["kid"]
        if self._refresh is None or _knows(ring, kid):
            return ring
        # The reload under way may have begun before this key was made: then one more, if the
        # rate allows. Otherwise the kid is refused as unknown by the verification.
        for _ in range(2):
            reload = self._start_for_unknown_kid(self._clock.now())
            if reload is None:
                break
            self._wait(reload, fail_closed=False)
            if _knows(self._ring, kid):
                break
        return self._ring

    def seconds_until_due(self) -> float:
        if self._refresh is None:
            return self._interval.total_seconds()
        return max(0.0, (self._next_refresh - self._clock.now()).total_seconds())

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        # A reload under way finishes first; a later use of the ring may start another thread.
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _start_for_unknown_kid(self, now: datetime) -> Future[None] | None:
        """The reload under way, or a new one at most every UNKNOWN_KID_RELOAD_GAP: made-up kids
        must not turn into a database query each."""
        with self._lock:
            if self._reloading is None and now - self._last_attempt < UNKNOWN_KID_RELOAD_GAP:
                return None
        return self._start(now, "unknown_kid", full=False)

    def _start(self, now: datetime, reason: str, *, full: bool) -> Future[None] | None:
        """The reload under way, or a new one; None while backing off after a failure."""
        with self._lock:
            if self._reloading is not None:
                return self._reloading
            if now < self._retry_at:
                return None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="authsvc-keys")
            self._reloading = self._executor.submit(self._run, reason, full, self._announced)
            return self._reloading

    def _wait(self, reload: Future[None] | None, *, fail_closed: bool) -> None:
        """Wait for `reload`; a failure (or none allowed now) refuses the caller if
        `fail_closed`, else leaves it the ring it has."""
        if reload is None:
            if fail_closed:
                raise ServiceUnavailable("The signing keys cannot be loaded right now.")
            return
        if not reload.done() and _on_event_loop():
            raise ReloadPending(reload)
        try:
            reload.result()
        except Exception:
            if fail_closed:
                raise

    def _run(self, reason: str, full: bool, announced: int) -> None:
        """One reload, in the holder's thread: transitions and keys when `full`, else keys."""
        load = self._refresh if full else self._load
        assert load is not None
        try:
            ring = load(self._ring)
        except Exception as exc:
            with self._lock:
                self._failures += 1
                finished = self._clock.now()
                backoff = min(RELOAD_BACKOFF_MAX, UNKNOWN_KID_RELOAD_GAP * 2**self._failures)
                self._last_attempt, self._retry_at = finished, finished + backoff
                if full:
                    self._next_refresh = finished + self._interval
                self._reloading = None
            self._report(reason, False)
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            # Keep the last good ring: requests that need a current one fail closed meanwhile.
            logger.warning(
                "key ring reload failed (%s); next attempt in %.1f s at the earliest",
                type(cause).__name__,
                backoff.total_seconds(),
            )
            raise
        with self._lock:
            self._ring = ring
            self._failures = 0
            finished = self._clock.now()
            self._last_attempt = self._last_reload = self._retry_at = finished
            self._caught_up = max(self._caught_up, announced)
            if full:
                self._next_refresh = finished + self._interval
            self._reloading = None
            behind = self._caught_up < self._announced
        self._report(reason, True)
        if behind:  # announced while this reload ran: it may have missed the change
            self._start(self._clock.now(), "announced", full=False)


def _report_nowhere(reason: str, succeeded: bool) -> None:
    pass


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
