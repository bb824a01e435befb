"""The moves that revoke: a password change, a logout everywhere, one device ending a session, a
TOTP factor removed and a new one added, and the operator's disable, enable and revoke."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp

from tests.chaos.accounts import Account, password
from tests.chaos.client import Client
from tests.chaos.history import Device
from tests.chaos.recorder import access_of, csrf_of, refresh_of
from tests.chaos.signin import log_in_admin, login
from tests.helpers.headers import bearer


def change_password(client: Client) -> None:
    change_password_of(client, client.pick_account())


def change_password_of(client: Client, account: Account) -> None:
    """Change the account's password from one of its devices, unless a change is under way."""
    changing(client, account, lambda device: password_change(client, account, device))


def changing(client: Client, account: Account, change: Callable[[Device], None]) -> None:
    """Run `change` on one of the account's devices, one password change at a time."""
    device = client.pick_device(account.name)
    if device is None or not account.changing.acquire(blocking=False):
        return
    try:
        with device.lock:
            if not device.retired:
                change(device)
    finally:
        account.changing.release()


def password_change(client: Client, account: Account, device: Device) -> None:
    """POST /password from `device`: the account's next password generation."""
    new = account.generation + 1
    call, response = client.http.call(
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
        if login(client, account, generation=new).status == 200:
            account.generation = new


def logout_everywhere(client: Client) -> None:
    device = client.pick_device()
    if device is not None:
        logout(client, device)


def logout(client: Client, device: Device) -> None:
    """POST /logout?everywhere=true with the device's access token."""
    client.http.call(
        "logout_all",
        device.user,
        "POST",
        "/logout?everywhere=true",
        headers=bearer(device.access),
        device=device.id,
        token_from=device.access_from,
    )


def end_session(client: Client) -> None:
    """DELETE /sessions/{sid}: one device signs out another of the same user (or itself)."""
    device = client.pick_device()
    if device is None:
        return
    target = client.pick_device(device.user) or device
    client.http.call(
        "end_session",
        device.user,
        "DELETE",
        f"/sessions/{target.sid}",
        headers=bearer(device.access),
        device=device.id,
        token_from=device.access_from,
        target=target.id,
    )


def remove_factor(client: Client, account: Account) -> None:
    """DELETE the factor from a device that signed in with it (step-up: aal 2, recently)."""
    device = client.pick_device(account.name)
    factor = account.factor_id
    if device is None or factor is None:
        return
    with device.lock:
        if device.retired:
            return
        call, response = client.http.call(
            "factor_removed",
            account.name,
            "DELETE",
            f"/account/mfa/factors/{factor}",
            headers=bearer(device.access),
            device=device.id,
            token_from=device.access_from,
        )
        if response is None or call.status != 200:
            return
        with account.codes:
            account.secret = account.factor_id = None
        access = access_of(response)
        if access is not None:
            device.access, device.access_from = access, call.id
        _add_factor(client, account, device)


def _add_factor(client: Client, account: Account, device: Device) -> None:
    """A new factor from the same device: confirming it ends the sessions below aal 2."""
    begun, response = client.http.call(
        "factor_begin",
        account.name,
        "POST",
        "/account/mfa/totp",
        headers=bearer(device.access),
        json={"name": "Phone"},
    )
    if response is None or begun.status != 200:
        return
    factor, secret = response.json()["factor_id"], response.json()["secret"]
    code = pyotp.TOTP(secret).now()
    call, answer = client.http.call(
        "factor_added",
        account.name,
        "POST",
        f"/account/mfa/totp/{factor}/confirm",
        headers=bearer(device.access),
        json={"code": code},
        device=device.id,
        token_from=device.access_from,
    )
    if answer is not None and call.status == 200:
        with account.codes:
            account.secret, account.factor_id = secret, factor
            account.last_step = int(time.time()) // 30
        access = access_of(answer)
        if access is not None:
            device.access, device.access_from = access, call.id


def operate(client: Client) -> None:
    """The operator disables, enables or revokes a user (never itself)."""
    account = client.pick_account()
    if account.disabled:
        action = "enable"
    else:
        action = "disable" if client.rng.random() < 0.3 else "revoke"
    with client.admin.lock:
        for _ in range(2):
            call, _ = client.http.call(
                f"admin_{action}",
                account.name,
                "POST",
                f"/admin/users/{account.id}/{action}",
                headers=bearer(client.admin.token),
            )
            if call.status != 401:
                break
            log_in_admin(client)
    if call.status == 200:
        account.disabled = action == "disable"
