"""One client thread: the recorder it sends through, the accounts and operator it plays, and the
random choices of whom to play and with which device; the moves take it as their first
argument."""

from __future__ import annotations

import random

from tests.chaos.accounts import Account, Admin
from tests.chaos.history import Device, History
from tests.chaos.recorder import Recorder


class Client:
    """One client thread's state; every request goes through `http` and is recorded, and `rng`
    makes its choices reproducible."""

    def __init__(
        self,
        recorder: Recorder,
        accounts: list[Account],
        admin: Admin,
        rng: random.Random,
    ) -> None:
        self.http = recorder
        self.history: History = recorder.history
        self.accounts = accounts
        self.admin = admin
        self.rng = rng

    def pick_account(self) -> Account:
        return self.rng.choice(self.accounts)

    def pick_device(self, user: str | None = None) -> Device | None:
        """A device still signed in (of `user`, when given), or None when there is none."""
        devices = self.history.live_devices(user)
        return self.rng.choice(devices) if devices else None
