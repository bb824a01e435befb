"""A device's tokens in use: checks with the access token, and refreshes with the refresh token,
from one tab or from two at once with the same token."""

from __future__ import annotations

import threading

import httpx

from tests.chaos.client import Client
from tests.chaos.history import Call, Device
from tests.chaos.recorder import access_of, csrf_of, refresh_headers, refresh_of

Answer = tuple[Call, httpx.Response | None]


def check(client: Client) -> None:
    """GET /session or /verify with a device's access token; a refusal makes it refresh."""
    device = client.pick_device()
    if device is None:
        return
    kind = client.rng.choice(["session", "verify"])
    call, _ = client.http.call(
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
        refresh(client, device)


def refresh(client: Client, device: Device | None = None) -> None:
    device = device or client.pick_device()
    if device is None:
        return
    with device.lock:
        if device.retired or device.refresh is None:
            return
        call, response = _refresh_call(client, device, device.refresh)
        _after_refresh(device, [(call, response)])


def two_tabs(client: Client) -> None:
    """Two tabs refresh with the same token at once: one rotates, the other gets grace."""
    device = client.pick_device()
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
            answers.append(_refresh_call(client, device, token))

        other = threading.Thread(target=tab)
        other.start()
        tab()
        other.join()
        _after_refresh(device, answers)


def _refresh_call(client: Client, device: Device, token: str) -> Answer:
    return client.http.call(
        "refresh",
        device.user,
        "POST",
        "/refresh",
        headers=refresh_headers(token, device.csrf),
        device=device.id,
        token_from=device.refresh_from,
    )


def _after_refresh(device: Device, answers: list[Answer]) -> None:
    """Keep what the answers handed out; a lost or refused answer retires the device."""
    if any(not call.answered or call.status == 401 for call, _ in answers):
        device.retired = True
        return
    for call, response in answers:
        if call.status != 200 or response is None:
            continue
        access, refresh_token = access_of(response), refresh_of(response)
        if access is not None:
            device.access, device.access_from = access, call.id
        if refresh_token is not None:
            device.refresh, device.refresh_from = refresh_token, call.id
        device.csrf = csrf_of(response) or device.csrf
