"""The sessions ended within the last access-token lifetime, in memory, kept current by a channel.

Ending one session (a logout, a device signed out) does not bump the user's token version, so
the access tokens already handed out for it would pass the version check until they expire. A
check refuses a token whose `sid` is in this set instead. Its guarantee is the token-version
cache's: it is loaded from the database when its channel comes up (one query on the index of
`sessions.ended_at`), then follows the channel's ended-session announcements; while the channel
is down, or the set is not loaded, every check reads the session's row (fail closed).

An announcement carries no authority: the set adds a session only once the database says it
ended. An entry leaves `horizon` after the session ended, when no token of it can still be
valid; a token issued longer than `horizon - skew` ago (a longer access-token lifetime than the
set was told of) is checked against the row instead, so a horizon too short costs reads, never
a wrong answer.
"""

from __future__ import annotations

import heapq
import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol

from authsvc.clock import Clock
from authsvc.errors import VerifierUnavailable

logger = logging.getLogger("authsvc.verify")


class EndedSessionReader(Protocol):
    """What the set reads from authsvc's database."""

    def session_end(self, session_id: str) -> datetime | None:
        """When the session ended; None while it is alive (or has no row)."""
        ...

    def ended_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Every session that ended at or after `since`, with when."""
        ...


class RecentlyEnded:
    """The set of recently ended sessions of one process; its channel events come from a cache."""

    def __init__(
        self, reader: EndedSessionReader, *, horizon: timedelta, skew: timedelta, clock: Clock
    ):
        self._reader = reader
        self._horizon = horizon.total_seconds()
        # A token issued this long before the set's window opened may belong to a session that
        # ended just before it (clocks of instances differ by up to the leeway).
        self._covered = (horizon - skew).total_seconds()
        self._clock = clock
        # session id -> when its entry may go; the heap orders the same by that time.
        self._ends: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._up = False
        self._loaded = False
        # Bumped on every change of trust, so a load begun before a loss is never used after.
        self._generation = 0
        self.loads = 0
        self.reads = 0

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def trusted(self) -> bool:
        return self._up and self._loaded

    def channel_up(self) -> None:
        """Subscribed: what was announced before is unknown, so the set is loaded again."""
        with self._lock:
            self._clear()
            self._up = True
        try:
            with self._loading:  # one load at a time, whoever starts it
                self.load()
        except VerifierUnavailable:
            pass  # loaded by the first check that needs it; until then checks read the rows

    def channel_down(self) -> None:
        with self._lock:
            self._clear()
            self._up = False

    def forget(self) -> None:
        """Something ended that the channel has not told yet: reload before answering again."""
        with self._lock:
            self._clear()

    def announced(self, session_id: str) -> None:
        """A session end was announced: believed only once its row says so."""
        if not self._up:
            return
        try:
            ended_at = self._read(session_id)
        except VerifierUnavailable:
            # Its truth is unknown: memory is not trusted again until it is loaded again.
            with self._lock:
                self._clear()
            return
        if ended_at is not None:
            self._add(session_id, ended_at.timestamp())

    def quick_ended(self, session_id: str, *, issued_at: int) -> bool | None:
        """Whether the session has ended, from memory; None when memory cannot answer."""
        if not (self._up and self._loaded):
            return None
        now = self._clock.now().timestamp()
        if issued_at < now - self._covered:
            return None
        if self._expiries and self._expiries[0][0] <= now:
            with self._lock:
                self._prune(now)
        return session_id in self._ends

    def ended(self, session_id: str, *, issued_at: int) -> bool:
        """Whether the session has ended: from memory when it can answer, else from its row."""
        answer = self.quick_ended(session_id, issued_at=issued_at)
        if answer is None and self._up and not self._loaded and self._loading.acquire(False):
            try:
                self.load()
            except VerifierUnavailable:
                pass  # the row below fails the same way, closed
            finally:
                self._loading.release()
            answer = self.quick_ended(session_id, issued_at=issued_at)
        if answer is not None:
            return answer
        return self._read(session_id) is not None

    def load(self) -> None:
        """Read every session ended within the horizon; memory answers from then on."""
        generation = self._generation
        since = self._clock.now() - timedelta(seconds=self._horizon)
        rows = self._reader.ended_since(since)
        self.loads += 1
        with self._lock:
            if generation != self._generation or not self._up:
                return  # the channel was lost meanwhile: what was loaded may be incomplete
            for session_id, ended_at in rows:
                self._store(session_id, ended_at.timestamp() + self._horizon)
            self._loaded = True
        logger.info("loaded %d recently ended sessions", len(rows))

    def _read(self, session_id: str) -> datetime | None:
        self.reads += 1
        return self._reader.session_end(session_id)

    def _add(self, session_id: str, ended_at: float) -> None:
        with self._lock:
            self._store(session_id, ended_at + self._horizon)
            self._prune(self._clock.now().timestamp())

    def _store(self, session_id: str, expiry: float) -> None:
        if self._ends.get(session_id, float("-inf")) >= expiry:
            return
        self._ends[session_id] = expiry
        heapq.heappush(self._expiries, (expiry, session_id))

    def _prune(self, now: float) -> None:
        """Entries no token can match any more leave: memory holds one horizon of endings."""
        while self._expiries and self._expiries[0][0] <= now:
            expiry, session_id = heapq.heappop(self._expiries)
            if self._ends.get(session_id) == expiry:
                del self._ends[session_id]

    def _clear(self) -> None:
        self._ends.clear()
        self._expiries.clear()
        self._loaded = False
        self._generation += 1
