"""Counters on a `limits` storage (memory, or Redis so that every instance shares them).

Windows are computed from the injected clock rather than the storage's own, so expiry is
testable and every instance agrees on the window; the storage expiry only collects garbage.
"""

from __future__ import annotations

import math
from datetime import datetime

import limits
from limits.storage import Storage, storage_from_string

PREFIX = "authsvc"


class Counters:
    """Fixed windows per limit, read together with the previous one as a sliding bound."""

    def __init__(self, storage: Storage):
        self.storage = storage

    @classmethod
    def from_url(cls, redis_url: str | None) -> Counters:
        storage = storage_from_string(redis_url or "memory://")
        if not isinstance(storage, Storage):  # the URL schemes we accept are all synchronous
            raise TypeError(f"unsupported throttling storage: {type(storage).__name__}")
        return cls(storage)

    def wait(self, name: str, item: limits.RateLimitItem, identity: str, now: datetime) -> int:
        """Seconds until `item` allows another event; 0 when it allows one now."""
        window = item.get_expiry()
        previous, current = (self.storage.get(key) for key in _keys(name, item, identity, now))
        # Counting the whole previous window too means no sliding window of this length ever
        # sees more than `amount` events, at the price of being a little strict.
        if previous + current < item.amount:
            return 0
        end = (math.floor(now.timestamp() / window) + 1) * window
        if current >= item.amount:
            end += window
        return math.ceil(end - now.timestamp())

    def hit(self, name: str, item: limits.RateLimitItem, identity: str, now: datetime) -> None:
        _, current = _keys(name, item, identity, now)
        self.storage.incr(current, 2 * item.get_expiry())

    def clear(self, name: str, item: limits.RateLimitItem, identity: str, now: datetime) -> None:
        for key in _keys(name, item, identity, now):
            self.storage.clear(key)

    def increment(self, key: str, expiry_seconds: int) -> int:
        """Add one to a plain counter; its new value."""
        return int(self.storage.incr(f"{PREFIX}:{key}", expiry_seconds))

    def value(self, key: str) -> int:
        return int(self.storage.get(f"{PREFIX}:{key}"))

    def close(self) -> None:
        # Redis storage holds a connection pool; memory storage holds nothing to release.
        close = getattr(getattr(self.storage, "storage", None), "close", None)
        if callable(close):
            close()


def _keys(name: str, item: limits.RateLimitItem, identity: str, now: datetime) -> tuple[str, str]:
    window = item.get_expiry()
    index = math.floor(now.timestamp() / window)
    base = f"{PREFIX}:{name}:{item.amount}/{window}:{identity}"
    return f"{base}:{index - 1}", f"{base}:{index}"
