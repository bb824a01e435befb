"""Login throttling: failures counted per account, per client address and per both.

Counters live in a `limits` storage (memory, or Redis so that every instance shares them).
Windows are computed from the injected clock rather than the storage's own, so expiry is
testable and every instance agrees on the window; the storage expiry only collects garbage.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import limits
from limits.storage import Storage, storage_from_string

from authsvc.config import Settings
from authsvc.errors import TooManyAttempts
from authsvc.throttle.syntax import parse_limits

_PREFIX = "authsvc:login"


@dataclass(frozen=True)
class _Rule:
    scope: str
    items: tuple[limits.RateLimitItem, ...]


class LoginThrottle:
    """Decides, before any password is hashed, whether a login attempt may proceed."""

    def __init__(self, storage: Storage, settings: Settings, *, prefix: str = _PREFIX):
        self._storage = storage
        # Another use of these rules (mail requests) counts under keys of its own.
        self._prefix = prefix
        self._enabled = settings.login_throttle_enabled
        self._account = _Rule("account", tuple(parse_limits(settings.login_limit_account)))
        pair_limits = parse_limits(settings.login_limit_client_account)
        self._pair = _Rule("client-account", tuple(pair_limits))
        self._client = _Rule("client", tuple(parse_limits(settings.login_limit_client)))
        self._known_seconds = settings.login_known_client_days * 86400

    @classmethod
    def from_settings(cls, settings: Settings, *, prefix: str = _PREFIX) -> LoginThrottle:
        storage = storage_from_string(settings.redis_url or "memory://")
        if not isinstance(storage, Storage):  # the URL schemes we accept are all synchronous
            raise TypeError(f"unsupported throttling storage: {type(storage).__name__}")
        return cls(storage, settings, prefix=prefix)

    def check(self, username: str, ip: str | None, now: datetime) -> None:
        """Raise TooManyAttempts (with Retry-After) when any applicable limit is spent."""
        if not self._enabled:
            return
        account, client = _digest(username), ip or "unknown"
        waits = [
            self._wait(self._client, client, now),
            self._wait(self._pair, f"{account}:{client}", now),
        ]
        # An address that once proved the password escapes the account-wide limit, so an
        # attacker spread over many addresses cannot lock the owner out (OWASP: no lockout DoS).
        if not self._is_known(account, client):
            waits.append(self._wait(self._account, account, now))
        wait = max(waits)
        if wait > 0:
            raise TooManyAttempts(headers={"Retry-After": str(wait)})

    def failed(self, username: str, ip: str | None, now: datetime) -> None:
        if not self._enabled:
            return
        account, client = _digest(username), ip or "unknown"
        self._hit(self._client, client, now)
        self._hit(self._pair, f"{account}:{client}", now)
        self._hit(self._account, account, now)

    def succeeded(self, username: str, ip: str | None, now: datetime) -> None:
        """The owner proved the password from this address: forget its failures, remember it."""
        if not self._enabled:
            return
        account, client = _digest(username), ip or "unknown"
        for item in self._pair.items:
            for key in self._window_keys(self._pair, item, f"{account}:{client}", now):
                self._storage.clear(key)
        if ip is not None and self._known_seconds > 0:
            self._storage.incr(self._known_key(account, client), self._known_seconds)

    def close(self) -> None:
        # Redis storage holds a connection pool; memory storage holds nothing to release.
        close = getattr(getattr(self._storage, "storage", None), "close", None)
        if callable(close):
            close()

    def _is_known(self, account: str, client: str) -> bool:
        return self._known_seconds > 0 and self._storage.get(self._known_key(account, client)) > 0

    def _known_key(self, account: str, client: str) -> str:
        return f"{self._prefix}:known:{account}:{client}"

    def _wait(self, rule: _Rule, identity: str, now: datetime) -> int:
        """Seconds until the rule allows another failure; 0 when it allows one now."""
        longest = 0
        for item in rule.items:
            window = item.get_expiry()
            previous, current = (
                self._storage.get(key) for key in self._window_keys(rule, item, identity, now)
            )
            # Counting the whole previous window too means no sliding window of this length
            # ever sees more than `amount` failures, at the price of being a little strict.
            if previous + current < item.amount:
                continue
            end = (math.floor(now.timestamp() / window) + 1) * window
            if current >= item.amount:
                end += window
            longest = max(longest, math.ceil(end - now.timestamp()))
        return longest

    def _hit(self, rule: _Rule, identity: str, now: datetime) -> None:
        for item in rule.items:
            _, current = self._window_keys(rule, item, identity, now)
            self._storage.incr(current, 2 * item.get_expiry())

    def _window_keys(
        self, rule: _Rule, item: limits.RateLimitItem, identity: str, now: datetime
    ) -> tuple[str, str]:
        window = item.get_expiry()
        index = math.floor(now.timestamp() / window)
        base = f"{self._prefix}:{rule.scope}:{item.amount}/{window}:{identity}"
        return f"{base}:{index - 1}", f"{base}:{index}"


def _digest(username: str) -> str:
    # Usernames never reach Redis in clear; the same digest whether or not the account exists.
    return hashlib.sha256(username.encode()).hexdigest()[:32]
