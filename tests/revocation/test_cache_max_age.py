"""A cached token version is re-read after its maximum age, even while the channel is up."""

from __future__ import annotations

from authsvc.revocation.channels.protocol import PushHandler
from authsvc.revocation.sources import PushCachedSource


class CountingSource:
    def __init__(self) -> None:
        self.version = 0
        self.reads = 0

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        self.reads += 1
        return self.version

    def close(self) -> None:
        pass


class SilentListener:
    """A channel that is up but never delivers: every announcement is lost on the way."""

    def start(self, handler: PushHandler) -> None:
        handler.channel_up()

    def stop(self) -> None:
        pass


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lost_announcement_is_healed_within_the_maximum_age() -> None:
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)

    assert cache.current_version("u", token="t", claimed=0) == 0
    assert cache.current_version("u", token="t", claimed=0) == 0
    assert (source.reads, cache.hits) == (1, 1)

    source.version = 1  # a bump whose announcement never arrives
    ticker.now += 29
    assert cache.current_version("u", token="t", claimed=0) == 0  # still within the bound
    ticker.now += 2
    assert cache.current_version("u", token="t", claimed=0) == 1  # re-read: the old token loses
    assert source.reads == 2


def test_an_announcement_only_sends_the_cache_back_to_the_source() -> None:
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)
    cache.current_version("u", token="t", claimed=0)
    cache.version_changed("u", 999_999_999)  # anyone who reaches the channel can say this
    assert cache.current_version("u", token="t", claimed=0) == 0
    assert source.reads == 2
    assert cache.current_version("u", token="t", claimed=0) == 0
    assert source.reads == 2


def test_a_version_above_the_databases_is_dropped_at_the_next_read() -> None:
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)
    source.version = 5
    assert cache.current_version("u", token="t", claimed=5) == 5
    source.version = 2  # a backup restored, or SQL by hand: no announcement
    ticker.now += 31
    assert cache.current_version("u", token="t", claimed=2) == 2
    assert cache.current_version("u", token="t", claimed=2) == 2
    assert source.reads == 2


def test_a_read_that_raced_an_announcement_is_not_remembered() -> None:
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)

    class Racing(CountingSource):
        def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
            version = super().current_version(user_id, token=token, claimed=claimed)
            if self.reads == 1:
                # The row was read before a bump that is announced before the read returns.
                cache.version_changed(user_id, 1)
            return version

    cache.source = racing = Racing()
    assert cache.current_version("u", token="t", claimed=0) == 0
    racing.version = 1
    assert cache.current_version("u", token="t", claimed=0) == 1
    assert racing.reads == 2


def test_the_checks_own_row_read_teaches_the_cache_under_the_same_rule() -> None:
    """The per-call check's read on the event loop (`read_began` ... `learned`): what the
    database said replaces what was remembered, and a read that overlapped an announcement for
    the user is not remembered."""
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)
    cache.learned("u", 5, cache.read_began())
    assert cache.quick_version("u", 5) == (True, 5)
    cache.learned("u", 2, cache.read_began())  # lower than remembered: the database wins
    assert cache.quick_version("u", 2) == (True, 2)

    mark = cache.read_began()
    cache.version_changed("u", 3)  # announced while the row was being read
    cache.learned("u", 2, mark)
    assert cache.quick_version("u", 2) == (False, None)
    cache.learned("u", 3, cache.read_began())
    assert cache.quick_version("u", 3) == (True, 3)
    assert source.reads == 0
