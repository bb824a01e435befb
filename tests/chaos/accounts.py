"""What the clients believe about the users they play: each user's password generation, disabled
flag and TOTP factor, the operator's token, and the factor's enrolment at set-up."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import pyotp

from tests.chaos.recorder import access_of
from tests.helpers.defaults import PASSWORD
from tests.helpers.headers import bearer


def password(generation: int) -> str:
    """The user's password after `generation` changes (the first is the test default)."""
    return PASSWORD if generation == 0 else f"Quartz-Vellum-{generation:04d}-Harbor"


@dataclass
class Account:
    """What the clients believe about a user; changes of the password are made one at a time."""

    name: str
    id: str
    generation: int = 0
    disabled: bool = False
    changing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    secret: str | None = None  # the confirmed TOTP factor's secret, while it has one
    factor_id: str | None = None
    last_step: int = 0  # the newest TOTP time step a code was taken from (each works once)
    codes: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_code(self) -> str | None:
        """A code of a time step not used before (the current one or the next, which the
        service accepts for drift, as the one before); None when all three are used, or there is
        no factor."""
        with self.codes:
            if self.secret is None:
                return None
            now = int(time.time()) // 30
            step = max(self.last_step + 1, now - 1)
            if step > now + 1:
                return None
            self.last_step = step
            return pyotp.TOTP(self.secret).at(step * 30)


@dataclass
class Admin:
    """The operator: an admin's access token, logged in again when it is refused."""

    name: str
    token: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def enrol_totp(base_url: str, account: Account) -> None:
    """Set-up, not recorded: a TOTP factor for the account, confirmed with its current code."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        login = http.post(
            "/login", json={"username": account.name, "password": password(account.generation)}
        )
        access = access_of(login)
        assert login.status_code == 200 and access is not None, login.text
        http.cookies.clear()
        begun = http.post("/account/mfa/totp", json={"name": "Phone"}, headers=bearer(access))
        assert begun.status_code == 200, begun.text
        factor, secret = begun.json()["factor_id"], begun.json()["secret"]
        account.secret, account.factor_id = secret, factor
        account.last_step = int(time.time()) // 30
        code = pyotp.TOTP(secret).at(account.last_step * 30)
        confirmed = http.post(
            f"/account/mfa/totp/{factor}/confirm", json={"code": code}, headers=bearer(access)
        )
        assert confirmed.status_code == 200, confirmed.text
