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


def test_an_announcement_refreshes_the_entrys_age() -> None:
    source, ticker = CountingSource(), Ticker()
    cache = PushCachedSource(source, SilentListener(), max_age=30.0, monotonic=ticker)
    cache.current_version("u", token="t", claimed=0)
    ticker.now += 25
    cache.version_changed("u", 3)
    ticker.now += 25
    assert cache.current_version("u", token="t", claimed=3) == 3
    assert source.reads == 1
