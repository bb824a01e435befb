"""Races provoked on purpose: a login sent while a password change or a logout everywhere of the
same user is under way, and a second login step sent while a revocation is under way or has just
answered; the other request runs on a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tests.chaos.accounts import Account, password
from tests.chaos.client import Client
from tests.chaos.history import Device
from tests.chaos.recorder import access_of
from tests.chaos.revocations import (
    change_password_of,
    changing,
    logout,
    password_change,
    remove_factor,
)
from tests.chaos.signin import login, second_step, signed_in
from tests.chaos.tokens import refresh


def login_during_password_change(client: Client) -> None:
    """A login with the password being replaced, sent while the change is under way."""
    account = client.pick_account()
    delay = client.rng.uniform(0.0, 0.3)

    def change(device: Device) -> None:
        replaced = account.generation
        other = _beside(lambda: login(client, account, generation=replaced), delay)
        password_change(client, account, device)
        other.join()

    changing(client, account, change)


def login_during_logout_everywhere(client: Client) -> None:
    """A login under way (hashing) when the same user's logout everywhere answers."""
    account = client.pick_account()
    device = client.pick_device(account.name)
    if device is None:
        return
    # A fresh token first: its version is the one current before the logout.
    refresh(client, device)
    other = _beside(lambda: logout(client, device), client.rng.uniform(0.0, 0.15))
    login(client, account, generation=account.generation)
    other.join()


def second_step_during_revocation(client: Client) -> None:
    """A login of a user with a factor whose second step is sent while a password change,
    a logout everywhere or the factor's removal is under way or has just answered."""
    account = client.rng.choice([a for a in client.accounts if a.secret is not None] or [None])
    if account is None:
        return
    generation = account.generation
    device_id = client.history.next_id()
    first, response = client.http.call(
        "login",
        account.name,
        "POST",
        "/login",
        json={"username": account.name, "password": password(generation)},
        device=device_id,
        password_gen=generation,
    )
    if response is None or first.status != 200 or access_of(response) is not None:
        signed_in(client, account, first, response, device_id)
        return
    revoke = client.rng.choice(
        [
            lambda: change_password_of(client, account),
            lambda: _logout_one_of(client, account),
            lambda: remove_factor(client, account),
        ]
    )
    other = _beside(revoke, client.rng.uniform(0.0, 0.2))
    second_step(
        client, account, first, response, generation, device_id, client.rng.uniform(0.0, 0.4)
    )
    other.join()


def _logout_one_of(client: Client, account: Account) -> None:
    device = client.pick_device(account.name)
    if device is not None:
        logout(client, device)


def _beside(move: Callable[[], object], delay: float) -> threading.Thread:
    """Start `move` on a second thread after `delay` seconds; the caller joins the thread."""

    def later() -> None:
        threading.Event().wait(delay)
        move()

    other = threading.Thread(target=later)
    other.start()
    return other
