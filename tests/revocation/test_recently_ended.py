"""The set of recently ended sessions: bounded by time, believed only from the database, and
fail closed while its channel is down or it could not load."""

from __future__ import annotations

from datetime import datetime, timedelta

from authsvc.errors import VerifierUnavailable
from authsvc.revocation.ended import RecentlyEnded
from tests.helpers.clock import FakeClock

HORIZON = timedelta(minutes=16)
SKEW = timedelta(seconds=30)


class Rows:
    """The sessions table as the set reads it."""

    def __init__(self) -> None:
        self.ended: dict[str, datetime | None] = {}
        self.failing = False
        self.reads = 0

    def session_end(self, session_id: str) -> datetime | None:
        self.reads += 1
        if self.failing:
            raise VerifierUnavailable()
        return self.ended.get(session_id)

    def ended_since(self, since: datetime) -> list[tuple[str, datetime]]:
        if self.failing:
            raise VerifierUnavailable()
        return [(sid, at) for sid, at in self.ended.items() if at is not None and at >= since]


def started(rows: Rows, clock: FakeClock) -> RecentlyEnded:
    recently = RecentlyEnded(rows, horizon=HORIZON, skew=SKEW, clock=clock)
    recently.channel_up()
    return recently


def test_an_entry_leaves_once_no_token_of_its_session_can_be_valid() -> None:
    clock, rows = FakeClock(), Rows()
    recently = started(rows, clock)
    issued = int(clock.now().timestamp())
    for number in range(1000):
        rows.ended[f"s{number}"] = clock.now()
        recently.announced(f"s{number}")
    assert len(recently) == 1000
    assert recently.quick_ended("s1", issued_at=issued) is True

    clock.advance(HORIZON.total_seconds() + 1)
    rows.ended["later"] = clock.now()
    recently.announced("later")

    assert len(recently) == 1  # memory holds one horizon of endings, no more
    # A token that old is outside what memory vouches for: its row answers instead.
    assert recently.quick_ended("s1", issued_at=issued) is None
    assert recently.ended("s1", issued_at=issued) is True


def test_an_announcement_is_believed_only_from_the_row() -> None:
    clock, rows = FakeClock(), Rows()
    recently = started(rows, clock)
    rows.ended["live"] = None
    recently.announced("live")  # forged: the row says the session is alive
    assert recently.quick_ended("live", issued_at=int(clock.now().timestamp())) is False
    assert len(recently) == 0


def test_memory_is_not_trusted_while_the_channel_is_down_or_unloaded() -> None:
    clock, rows = FakeClock(), Rows()
    rows.ended["gone"] = clock.now()
    recently = started(rows, clock)
    issued = int(clock.now().timestamp())
    assert recently.quick_ended("gone", issued_at=issued) is True  # loaded at start

    recently.channel_down()
    assert recently.quick_ended("gone", issued_at=issued) is None
    reads = rows.reads
    assert recently.ended("gone", issued_at=issued) is True
    assert rows.reads == reads + 1

    rows.failing = True
    recently.channel_up()  # its load fails: memory stays untrusted
    assert recently.quick_ended("gone", issued_at=issued) is None
    rows.failing = False
    assert recently.ended("gone", issued_at=issued) is True  # loaded by the first check
    assert recently.quick_ended("gone", issued_at=issued) is True


def test_an_announcement_that_cannot_be_checked_untrusts_memory_until_reloaded() -> None:
    clock, rows = FakeClock(), Rows()
    recently = started(rows, clock)
    issued = int(clock.now().timestamp())
    rows.ended["gone"] = clock.now()
    rows.failing = True
    recently.announced("gone")
    assert recently.quick_ended("gone", issued_at=issued) is None
    rows.failing = False
    assert recently.ended("gone", issued_at=issued) is True


def test_an_ending_announced_while_the_channel_was_down_is_loaded_when_it_comes_back() -> None:
    clock, rows = FakeClock(), Rows()
    recently = started(rows, clock)
    issued = int(clock.now().timestamp())
    recently.channel_down()
    rows.ended["gone"] = clock.now()
    recently.announced("gone")  # lost: nobody was listening
    recently.channel_up()
    assert recently.quick_ended("gone", issued_at=issued) is True
