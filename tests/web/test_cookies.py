"""The cookie policy: Secure true/false/auto, trusted proxies, SameSite, the __Host- prefix."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from tests.helpers.cookies import access_set_cookie, parse_set_cookie
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import credentials, log_in

LOGIN = credentials()


async def login_cookie(
    client_factory: ClientFactory,
    settings: Settings,
    base_url: str,
    headers: dict[str, str] | None = None,
) -> tuple[str, str, dict[str, str]]:
    """Log in on a client of this base URL: the access cookie's name, value and attributes."""
    async with client_factory(settings, base_url=base_url) as client:
        response = await log_in(client, headers=headers or {})
    return parse_set_cookie(access_set_cookie(response))


async def test_secure_true_uses_the_host_prefix(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    name, _, attributes = await login_cookie(
        client_factory, make_settings(cookie_secure="true"), "https://auth.example"
    )
    assert name == "__Host-authsvc_at"
    assert attributes["secure"] == "True" and attributes["path"] == "/"
    assert "domain" not in attributes


async def test_a_domain_rules_out_the_host_prefix(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    settings = make_settings(cookie_secure="true", cookie_domain="example.com")
    name, _, attributes = await login_cookie(client_factory, settings, "https://auth.example.com")
    assert name == "authsvc_at"
    assert attributes["domain"] == "example.com" and attributes["secure"] == "True"


@pytest.mark.parametrize(
    ("base_url", "secure"), [("http://auth.example", False), ("https://auth.example", True)]
)
async def test_auto_follows_the_request_scheme(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    base_url: str,
    secure: bool,
) -> None:
    make_user()
    name, _, attributes = await login_cookie(
        client_factory, make_settings(cookie_secure="auto"), base_url
    )
    assert attributes["secure"] == str(secure)
    assert name == ("__Host-authsvc_at" if secure else "authsvc_at")


async def test_forwarded_proto_counts_only_from_a_trusted_proxy(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    forwarded = {"x-forwarded-proto": "https"}
    # httpx's ASGI transport presents the client as 127.0.0.1.
    untrusted = make_settings(cookie_secure="auto")
    trusted = make_settings(cookie_secure="auto", trusted_proxies="127.0.0.1")

    _, _, from_stranger = await login_cookie(
        client_factory, untrusted, "http://auth.example", forwarded
    )
    _, _, from_proxy = await login_cookie(client_factory, trusted, "http://auth.example", forwarded)

    assert from_stranger["secure"] == "False"
    assert from_proxy["secure"] == "True"


async def test_samesite_strict_is_honoured(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    _, _, attributes = await login_cookie(
        client_factory, make_settings(cookie_samesite="strict"), "http://auth.example"
    )
    assert attributes["samesite"].lower() == "strict"


async def test_the_cookie_is_read_under_the_name_it_was_set_with(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(
        make_settings(cookie_secure="true"), base_url="https://auth.example"
    ) as client:
        await client.post("/login", json=LOGIN)
        assert (await client.get("/session")).status_code == 200
        # A plain-named cookie (as a sibling subdomain could plant) is not read.
        token = client.cookies["__Host-authsvc_at"]
        client.cookies.clear()
        client.cookies.set("authsvc_at", token)
        assert (await client.get("/session")).status_code == 401


def test_samesite_none_without_secure_is_refused_naming_the_variables(
    make_settings: MakeSettings,
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_settings(cookie_samesite="none", cookie_secure="auto")
    assert "AUTHSVC_COOKIE_SAMESITE=none requires AUTHSVC_COOKIE_SECURE=true" in str(caught.value)


async def test_auto_never_drops_secure_when_the_issuer_is_https(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """Behind a TLS-terminating balancer that is not a trusted proxy, requests look like HTTP."""
    make_user()
    settings = make_settings(cookie_secure="auto", issuer="https://auth.example")
    async with client_factory(settings, base_url="http://auth.example", browser=False) as client:
        response = await log_in(client)
    cookies = [parse_set_cookie(header) for header in response.headers.get_list("set-cookie")]
    names = {name for name, _, _ in cookies}
    assert {"__Host-authsvc_at", "__Secure-authsvc_rt", "__Host-authsvc_csrf"} <= names
    assert all(attributes["secure"] == "True" for _, _, attributes in cookies)


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        ({"cookie_secure": "false", "issuer": "https://auth.example"}, True),
        ({"cookie_secure": "auto", "issuer": "https://auth.example"}, False),
        ({"cookie_secure": "true", "issuer": "https://auth.example"}, False),
        ({"cookie_secure": "false", "issuer": "http://127.0.0.1:8000"}, False),
    ],
    ids=["false-https", "auto-https", "true-https", "false-http"],
)
async def test_start_up_warns_when_cookies_would_go_without_secure_for_an_https_issuer(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, str],
    warned: bool,
) -> None:
    caplog.set_level(logging.WARNING, logger="authsvc")
    async with client_factory(make_settings(**overrides)):
        pass
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "Secure" in record.getMessage()
    ]
    if warned:
        assert len(warnings) == 1
        assert "AUTHSVC_COOKIE_SECURE=false" in warnings[0]
        assert "https://auth.example" in warnings[0]
    else:
        assert warnings == []
