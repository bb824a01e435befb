"""Forwarded headers: every header line read, every hop validated, proxies as addresses or
networks, and a warning when forwarded headers arrive but no proxy is trusted."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from tests.helpers.cookies import access_set_cookie, parse_set_cookie
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import credentials

Headers = list[tuple[str, str]]


async def client_address_seen(
    client_factory: ClientFactory, settings: Settings, headers: Headers
) -> str | None:
    """Log in with these headers (the ASGI client connects from 127.0.0.1): the address stored."""
    async with client_factory(settings, browser=False) as client:
        login = await client.post("/login", json=credentials(), headers=headers)
        assert login.status_code == 200, login.text
        token = login.cookies["authsvc_at"]
        devices = (await client.get("/sessions", headers=bearer(token))).json()["sessions"]
    address: str | None = devices[0]["client_ip"]
    return address


@pytest.mark.parametrize(
    ("trusted", "headers", "seen"),
    [
        # HAProxy `option forwardfor` adds a line of its own after the client's forged one.
        ("127.0.0.1", [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.5")],
         "203.0.113.5"),
        ("127.0.0.1", [("X-Forwarded-For", "1.1.1.1, 203.0.113.5")], "203.0.113.5"),
        # A hop that is no address stops the walk at the last proxy we trust.
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.5, not-an-address")], "127.0.0.1"),
        ("127.0.0.1", [("X-Forwarded-For", "<script>")], "127.0.0.1"),
        # Ports and brackets some balancers add are not part of the address.
        ("127.0.0.1", [("X-Forwarded-For", "[2001:db8::1]:4711")], "2001:db8::1"),
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.5:51234")], "203.0.113.5"),
        ("127.0.0.1", [("X-Forwarded-For", "2001:DB8:0:0::1")], "2001:db8::1"),
        # Proxies may be named by network; every trusted hop is skipped.
        ("127.0.0.0/8, 10.0.0.0/8", [("X-Forwarded-For", "198.51.100.1, 10.1.2.3")],
         "198.51.100.1"),
        # From an untrusted peer, nothing forwarded is believed.
        ("10.0.0.1", [("X-Forwarded-For", "198.51.100.1")], "127.0.0.1"),
    ],
    ids=[
        "two-header-lines",
        "one-line",
        "invalid-hop",
        "garbage",
        "ipv6-with-port",
        "ipv4-with-port",
        "ipv6-spelling",
        "trusted-networks",
        "untrusted-peer",
    ],
)  # fmt: skip
async def test_the_client_address_behind_proxies(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    trusted: str,
    headers: Headers,
    seen: str,
) -> None:
    make_user()
    settings = make_settings(trusted_proxies=trusted)
    assert await client_address_seen(client_factory, settings, headers) == seen


async def secure_cookie(
    client_factory: ClientFactory, settings: Settings, headers: Headers
) -> bool:
    async with client_factory(settings, base_url="http://auth.example", browser=False) as client:
        login = await client.post("/login", json=credentials(), headers=headers)
        assert login.status_code == 200, login.text
    _, _, attributes = parse_set_cookie(access_set_cookie(login))
    return attributes["secure"] == "True"


@pytest.mark.parametrize(
    ("headers", "secure"),
    [
        ([("X-Forwarded-Proto", "https")], True),
        # The line our proxy added comes last; the client's own line cannot outvote it.
        ([("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")], False),
        ([("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")], True),
        ([("X-Forwarded-Proto", "http, https")], True),
        # What is neither http nor https is no scheme: the request's own is used.
        ([("X-Forwarded-Proto", "javascript")], False),
        ([("X-Forwarded-Proto", "HTTPS")], True),
    ],
    ids=["https", "forged-first-line", "proxy-last-line", "list", "invalid", "upper-case"],
)
async def test_forwarded_proto_reads_every_line_and_validates_it(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    headers: Headers,
    secure: bool,
) -> None:
    make_user()
    settings = make_settings(cookie_secure="auto", trusted_proxies="127.0.0.1")
    assert await secure_cookie(client_factory, settings, headers) is secure


def test_trusted_proxies_must_be_addresses_or_networks(make_settings: MakeSettings) -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        make_settings(trusted_proxies="lb.internal")
    settings = make_settings(trusted_proxies="10.0.0.0/8, ::1, 192.0.2.7")
    assert settings.trusted_proxies == ["10.0.0.0/8", "::1", "192.0.2.7"]


async def test_forwarded_headers_without_a_trusted_proxy_are_warned_about_once(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every client behind that proxy would share one address for throttling."""
    make_user()
    caplog.set_level(logging.WARNING, logger="authsvc")
    async with client_factory(settings, browser=False) as client:
        await client.post("/login", json=credentials())
        for index in range(3):
            client.cookies.clear()  # each login as a fresh API client, with no cookie to check
            forwarded = {"X-Forwarded-For": f"198.51.100.{index}"}
            response = await client.post("/login", json=credentials(), headers=forwarded)
            assert response.status_code == 200
    warnings = [
        record.getMessage()
        for record in caplog.records
        if "AUTHSVC_TRUSTED_PROXIES" in record.getMessage()
    ]
    assert len(warnings) == 1
    assert "X-Forwarded-For" in warnings[0]
