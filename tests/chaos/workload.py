"""Concurrent clients: logins (some with the old password), refreshes (two tabs at once),
session checks, password changes, logout everywhere, session ends, and an operator's disable,
enable and revoke; each race a real client can run into is also provoked on purpose."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.chaos.history import Call, Device, History
from tests.chaos.recorder import (
    Recorder,
    access_of,
    csrf_of,
    refresh_headers,
    refresh_of,
    session_id,
)
from tests.helpers.defaults import PASSWORD
from tests.helpers.headers import bearer

Answer = tuple[Call, httpx.Response | None]


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


@dataclass
class Admin:
    """The operator: an admin's access token, logged in again when it is refused."""

    name: str
    token: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Client:
    """One client thread's moves, each recorded; `rng` makes its choices reproducible."""

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
        self._other: threading.Thread | None = None
        self.moves: list[tuple[Callable[[], object], int]] = [
            (self.check, 40),
            (self.refresh, 12),
            (self.two_tabs, 4),
            (self.login, 14),
            (self.login_during_password_change, 5),
            (self.login_during_logout_everywhere, 5),
            (self.change_password, 2),
            (self.logout_everywhere, 2),
            (self.end_session, 4),
            (self.operate, 4),
        ]

    def step(self) -> None:
        moves, weights = zip(*self.moves, strict=True)
        self.rng.choices(moves, weights)[0]()

    # --- choosing -------------------------------------------------------------------------

    def _account(self) -> Account:
        return self.rng.choice(self.accounts)

    def _device(self, user: str | None = None) -> Device | None:
        devices = self.history.live_devices(user)
        return self.rng.choice(devices) if devices else None

    # --- moves ----------------------------------------------------------------------------

    def login(self, account: Account | None = None, *, generation: int | None = None) -> Call:
        """Log in with the current password, or (one in four) the one before it."""
        account = account or self._account()
        if generation is None:
            old = self.rng.random() < 0.25
            generation = max(account.generation - 1, 0) if old else account.generation
        device_id = self.history.next_id()
        call, response = self.http.call(
            "login",
            account.name,
            "POST",
            "/login",
            json={"username": account.name, "password": password(generation)},
            device=device_id,
            password_gen=generation,
        )
        if response is not None and call.status == 200:
            access, refresh = access_of(response), refresh_of(response)
            assert access is not None and refresh is not None, response.headers
            device = Device(
                id=device_id,
                user=account.name,
                login=call.id,
                sid=session_id(access),
                access=access,
                access_from=call.id,
                refresh=refresh,
                refresh_from=call.id,
                csrf=csrf_of(response) or "",
            )
            self.history.add_device(device)
        return call

    def check(self) -> None:
        device = self._device()
        if device is None:
            return
        kind = self.rng.choice(["session", "verify"])
        call, _ = self.http.call(
            kind,
            device.user,
            "GET",
            f"/{kind}",
            headers={"Cookie": f"authsvc_at={device.access}"},
            device=device.id,
            token_from=device.access_from,
        )
        if call.status == 401:
            # What a client does with a refused access token: refresh once.
            self.refresh(device)

    def refresh(self, device: Device | None = None) -> None:
        device = device or self._device()
        if device is None:
            return
        with device.lock:
            if device.retired or device.refresh is None:
                return
            call, response = self._refresh_call(device, device.refresh)
            self._after_refresh(device, [(call, response)])

    def _refresh_call(self, device: Device, token: str) -> Answer:
        return self.http.call(
            "refresh",
            device.user,
            "POST",
            "/refresh",
            headers=refresh_headers(token, device.csrf),
            device=device.id,
            token_from=device.refresh_from,
        )

    def _after_refresh(self, device: Device, answers: list[Answer]) -> None:
        """Keep what the answers handed out; a lost or refused answer retires the device."""
        if any(not call.answered or call.status == 401 for call, _ in answers):
            device.retired = True
            return
        for call, response in answers:
            if call.status != 200 or response is None:
                continue
            access, refresh = access_of(response), refresh_of(response)
            if access is not None:
                device.access, device.access_from = access, call.id
            if refresh is not None:
                device.refresh, device.refresh_from = refresh, call.id
            device.csrf = csrf_of(response) or device.csrf

    def two_tabs(self) -> None:
        """Two tabs refresh with the same token at once: one rotates, the other gets grace."""
        device = self._device()
        if device is None:
            return
        with device.lock:
            token = device.refresh
            if device.retired or token is None:
                return
            answers: list[Answer] = []
            gate = threading.Barrier(2)

            def tab() -> None:
                gate.wait()
                answers.append(self._refresh_call(device, token))

            other = threading.Thread(target=tab)
            other.start()
            tab()
            other.join()
            self._after_refresh(device, answers)

    def change_password(self) -> None:
        account = self._account()
        self._changing(account, lambda device: self._change(account, device))

    def _changing(self, account: Account, change: Callable[[Device], None]) -> None:
        """Run `change` on one of the account's devices, one password change at a time."""
        device = self._device(account.name)
        if device is None or not account.changing.acquire(blocking=False):
            return
        try:
            with device.lock:
                if not device.retired:
                    change(device)
        finally:
            account.changing.release()

    def _change(self, account: Account, device: Device) -> None:
        new = account.generation + 1
        call, response = self.http.call(
            "password",
            account.name,
            "POST",
            "/password",
            headers=bearer(device.access),
            json={"current_password": password(account.generation), "new_password": password(new)},
            device=device.id,
            token_from=device.access_from,
            password_gen=new,
        )
        if response is not None and call.status == 200:
            account.generation = new
            access, refresh = access_of(response), refresh_of(response)
            assert access is not None and refresh is not None, response.headers
            device.access, device.access_from = access, call.id
            device.refresh, device.refresh_from = refresh, call.id
            device.csrf = csrf_of(response) or device.csrf
        elif not call.answered:
            # Whether it changed is unknown: the new password tells.
            device.retired = True
            if self.login(account, generation=new).status == 200:
                account.generation = new

    def login_during_password_change(self) -> None:
        """A login with the password being replaced, sent while the change is under way."""
        account = self._account()
        delay = self.rng.uniform(0.0, 0.3)

        def change(device: Device) -> None:
            replaced = account.generation
            self._beside(lambda: self.login(account, generation=replaced), delay)
            self._change(account, device)
            self._joined()

        self._changing(account, change)

    def login_during_logout_everywhere(self) -> None:
        """A login under way (hashing) when the same user's logout everywhere answers."""
        account = self._account()
        device = self._device(account.name)
        if device is None:
            return
        # A fresh token first: its version is the one current before the logout.
        self.refresh(device)
        self._beside(lambda: self._logout(device), self.rng.uniform(0.0, 0.15))
        self.login(account, generation=account.generation)
        self._joined()

    def _beside(self, move: Callable[[], object], delay: float) -> None:
        """Start `move` on a second thread after `delay` seconds; `_joined` waits for it."""

        def later() -> None:
            threading.Event().wait(delay)
            move()

        self._other = threading.Thread(target=later)
        self._other.start()

    def _joined(self) -> None:
        if self._other is not None:
            self._other.join()
            self._other = None

    def logout_everywhere(self) -> None:
        device = self._device()
        if device is not None:
            self._logout(device)

    def _logout(self, device: Device) -> None:
        self.http.call(
            "logout_all",
            device.user,
            "POST",
            "/logout?everywhere=true",
            headers=bearer(device.access),
            device=device.id,
            token_from=device.access_from,
        )

    def end_session(self) -> None:
        """DELETE /sessions/{sid}: one device signs out another of the same user (or itself)."""
        device = self._device()
        if device is None:
            return
        target = self._device(device.user) or device
        self.http.call(
            "end_session",
            device.user,
            "DELETE",
            f"/sessions/{target.sid}",
            headers=bearer(device.access),
            device=device.id,
            token_from=device.access_from,
            target=target.id,
        )

    def operate(self) -> None:
        """The operator disables, enables or revokes a user (never itself)."""
        account = self._account()
        if account.disabled:
            action = "enable"
        else:
            action = "disable" if self.rng.random() < 0.3 else "revoke"
        with self.admin.lock:
            for _ in range(2):
                call, _ = self.http.call(
                    f"admin_{action}",
                    account.name,
                    "POST",
                    f"/admin/users/{account.id}/{action}",
                    headers=bearer(self.admin.token),
                )
                if call.status != 401:
                    break
                self.log_in_admin()
        if call.status == 200:
            account.disabled = action == "disable"

    def log_in_admin(self) -> None:
        call, response = self.http.call(
            "admin_login",
            self.admin.name,
            "POST",
            "/login",
            json={"username": self.admin.name, "password": PASSWORD},
        )
        if response is not None and call.status == 200:
            self.admin.token = access_of(response) or ""
