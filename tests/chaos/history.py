"""What happened in a run: every request with its start and end (monotonic), the devices
(sessions) the clients held, and the faults the injector declared."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

# Revocations that end every session of the user (a password change keeps its own).
ENDS_ALL_SESSIONS = frozenset({"password", "logout_all", "admin_disable", "admin_revoke"})
# Revocations that refuse every access token issued before them (the token-version bump).
BUMPS_VERSION = ENDS_ALL_SESSIONS | {"theft"}


@dataclass(frozen=True)
class Call:
    """One request and its answer; `status` None when no complete answer came."""

    id: int
    kind: str
    user: str
    started: float
    ended: float
    status: int | None
    error: str | None
    port: int | None  # the instance that answered (nginx names it)
    device: int | None = None  # the device whose token was presented, or created (login)
    token_from: int | None = None  # the call that issued the token presented
    target: int | None = None  # DELETE /sessions: the device ended
    password_gen: int | None = None  # login: the password tried; password: the new one
    issued_version: int | None = None  # the token version (`tv`) of the access token handed out

    @property
    def ok(self) -> bool:
        """A success that did what was asked (not a logout that found nobody to log out)."""
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def answered(self) -> bool:
        """Whether the outcome is known: an answer the service chose (not a broken one)."""
        return self.status is not None and self.status not in (502, 504)

    def overlaps(self, start: float, end: float) -> bool:
        return self.started <= end and self.ended >= start


@dataclass(frozen=True)
class Fault:
    kind: str
    started: float
    ended: float
    detail: str = ""


@dataclass
class Device:
    """A signed-in session as a client holds it: its tokens and the calls that issued them."""

    id: int
    user: str
    login: int  # the call that created it
    sid: str
    access: str
    access_from: int
    refresh: str | None
    refresh_from: int
    csrf: str = ""  # the double-submit token a page echoes with the refresh cookie
    retired: bool = False  # a refresh's outcome was lost: the client cannot know its token
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


@dataclass
class History:
    """The record the checker reads; every method is safe to call from any thread."""

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def add(self, call: Call) -> Call:
        with self._lock:
            self.calls.append(call)
        return call

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def add_device(self, device: Device) -> None:
        with self._lock:
            self.devices.append(device)

    def live_devices(self, user: str | None = None) -> list[Device]:
        with self._lock:
            return [
                device
                for device in self.devices
                if not device.retired and (user is None or device.user == user)
            ]

    def in_fault(self, start: float, end: float) -> bool:
        """Whether [start, end] meets a declared fault window."""
        with self._lock:
            return any(fault.started <= end and fault.ended >= start for fault in self.faults)

    def fault_end_after(self, start: float, end: float) -> float | None:
        """The latest end of a fault window that meets [start, end], if any."""
        with self._lock:
            ends = [f.ended for f in self.faults if f.started <= end and f.ended >= start]
        return max(ends) if ends else None
