"""The limits of one endpoint: checked before any work, counted after a failure or attempt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from limits import RateLimitItem

from authsvc.errors import TooManyAttempts
from authsvc.throttle.clients import client_key
from authsvc.throttle.counters import Counters

# Refusals are counted per client and hour; the audit trail gets the 1st, 10th, 100th... of
# them, so a client hammering a throttled endpoint costs no database write per request.
REFUSALS_WINDOW_SECONDS = 3600


class Per(Enum):
    """Whose events a limit counts."""

    CLIENT = "client"
    ACCOUNT = "account"
    CLIENT_ACCOUNT = "client-account"


@dataclass(frozen=True)
class Limit:
    """How many counted events one identity may have in each window.

    `counter` names the counts in the storage: endpoints whose limits share a counter share
    the counts (every guess of an account's password, wherever it is made, is one guess).
    """

    counter: str
    per: Per
    items: tuple[RateLimitItem, ...]
    # An address that once proved the account's password skips this limit, so an attacker
    # spread over many addresses cannot lock the owner out (OWASP: no lockout DoS).
    spares_known_clients: bool = False


class Throttle:
    """One endpoint's limits, all counted in the shared storage."""

    def __init__(
        self,
        name: str,
        route: str,
        limits: tuple[Limit, ...],
        counters: Counters,
        *,
        enabled: bool = True,
        known_client_seconds: int = 0,
        refusal: str = "Too many attempts; try again later.",
    ):
        self.name = name
        self.route = route
        self.limits = limits
        self._counters = counters
        self._enabled = enabled
        self._known_seconds = known_client_seconds
        self._refusal = refusal

    def check(self, now: datetime, *, client: str | None, account: str | None = None) -> None:
        """Raise TooManyAttempts (with Retry-After) when any applicable limit is spent."""
        if not self._enabled:
            return
        identities = _Identities.of(client, account)
        known = self._is_known(identities)
        wait = 0
        for limit in self.limits:
            identity = identities.for_limit(limit)
            if identity is None or (limit.spares_known_clients and known):
                continue
            for item in limit.items:
                wait = max(wait, self._counters.wait(limit.counter, item, identity, now))
        if wait > 0:
            raise TooManyAttempts(self._refusal, headers={"Retry-After": str(wait)})

    def count(self, now: datetime, *, client: str | None, account: str | None = None) -> None:
        """One more event (a failure, or an attempt) against every limit it applies to."""
        if not self._enabled:
            return
        identities = _Identities.of(client, account)
        for limit in self.limits:
            identity = identities.for_limit(limit)
            if identity is not None:
                for item in limit.items:
                    self._counters.hit(limit.counter, item, identity, now)

    def succeeded(self, now: datetime, *, client: str | None, account: str) -> None:
        """The owner proved the password from this address: forget its failures, remember it."""
        if not self._enabled:
            return
        identities = _Identities.of(client, account)
        for limit in self.limits:
            if limit.per is Per.CLIENT_ACCOUNT:
                for item in limit.items:
                    self._counters.clear(limit.counter, item, identities.pair, now)
        if client is not None and self._known_seconds > 0:
            self._counters.increment(identities.known_key, self._known_seconds)

    def refused(self, now: datetime, *, client: str | None) -> int | None:
        """Count a refusal; its number this hour when it is one to audit (1, 10, 100, ...)."""
        hour = int(now.timestamp()) // REFUSALS_WINDOW_SECONDS
        key = f"{self.name}:refused:{client_key(client)}:{hour}"
        refused = self._counters.increment(key, 2 * REFUSALS_WINDOW_SECONDS)
        return refused if _is_power_of_ten(refused) else None

    def _is_known(self, identities: _Identities) -> bool:
        if self._known_seconds <= 0 or identities.account is None:
            return False
        return self._counters.value(identities.known_key) > 0


@dataclass(frozen=True)
class _Identities:
    client: str
    account: str | None

    @classmethod
    def of(cls, ip: str | None, account: str | None) -> _Identities:
        return cls(client_key(ip), None if account is None else _digest(account))

    @property
    def pair(self) -> str:
        return f"{self.account}:{self.client}"

    @property
    def known_key(self) -> str:
        # The key the login throttle has always used, so known addresses survive an upgrade.
        return f"login:known:{self.account}:{self.client}"

    def for_limit(self, limit: Limit) -> str | None:
        if limit.per is Per.CLIENT:
            return self.client
        if self.account is None:
            return None
        return self.account if limit.per is Per.ACCOUNT else self.pair


def _digest(account: str) -> str:
    # Usernames never reach Redis in clear; the same digest whether or not the account exists.
    return hashlib.sha256(account.encode()).hexdigest()[:32]


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1
