"""Signing in: a user's login (with the current password or the one before it), its second step
for a user with a TOTP factor, the device a successful login opens, and the operator's login."""

from __future__ import annotations

import threading

import httpx

from tests.chaos.accounts import Account, password
from tests.chaos.client import Client
from tests.chaos.history import Call, Device
from tests.chaos.recorder import access_of, cookie_value, csrf_of, refresh_of, session_id
from tests.helpers.defaults import PASSWORD

STEP_COOKIE = "authsvc_mfa"


def login(client: Client, account: Account | None = None, *, generation: int | None = None) -> Call:
    """Log in with the current password, or (one in four) the one before it."""
    account = account or client.pick_account()
    if generation is None:
        old = client.rng.random() < 0.25
        generation = max(account.generation - 1, 0) if old else account.generation
    device_id = client.history.next_id()
    call, response = client.http.call(
        "login",
        account.name,
        "POST",
        "/login",
        json={"username": account.name, "password": password(generation)},
        device=device_id,
        password_gen=generation,
    )
    if response is not None and call.status == 200 and access_of(response) is None:
        return second_step(client, account, call, response, generation, device_id, 0.0)
    return signed_in(client, account, call, response, device_id)


def signed_in(
    client: Client, account: Account, call: Call, response: httpx.Response | None, device_id: int
) -> Call:
    """Keep the device a login (or its second step) opened."""
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
        client.history.add_device(device)
    return call


def second_step(
    client: Client,
    account: Account,
    first: Call,
    response: httpx.Response,
    generation: int,
    device_id: int,
    delay: float,
) -> Call:
    """POST /login/mfa with the step cookie and a fresh code, `delay` seconds later."""
    step = cookie_value(response, STEP_COOKIE)
    code = account.next_code()
    if step is None or code is None:
        return first
    threading.Event().wait(delay)
    call, answer = client.http.call(
        "login_mfa",
        account.name,
        "POST",
        "/login/mfa",
        headers=client.http.step_headers(step),
        json={"code": code},
        device=device_id,
        password_gen=generation,
        step_from=first.id,
    )
    return signed_in(client, account, call, answer, device_id)


def log_in_admin(client: Client) -> None:
    """The operator's login: a fresh admin access token for the client's `admin`."""
    call, response = client.http.call(
        "admin_login",
        client.admin.name,
        "POST",
        "/login",
        json={"username": client.admin.name, "password": PASSWORD},
    )
    if response is not None and call.status == 200:
        client.admin.token = access_of(response) or ""
