"""`?next=` after signing in or out: a path on this service or a URL on an allowed origin, and
never anywhere else, however it is spelt or encoded."""

from __future__ import annotations

import pytest

from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.pages import sign_in_through_page

FRONTEND = "https://app.example.com"

FOREIGN = [
    "//evil.example",
    "//evil.example/ui/account",
    "///evil.example",
    "https://evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http://evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "https://app.example.com@evil.example",
    "https://app.example.com.evil.example",
    "https://app.example.com:8443/",
    "http://app.example.com/",
    "ui/account",
    "evil.example",
    "/ui/\u2215\u2215evil.example",
]


@pytest.mark.parametrize("target", FOREIGN)
async def test_a_foreign_next_is_never_followed(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser, target: str
) -> None:
    make_user()
    settings = make_settings(allowed_origins=f"http://authsvc.test,{FRONTEND}")
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/login", params={"next": target})
        assert 'name="next"' not in page.text
        response = await sign_in_through_page(client, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/account"


@pytest.mark.parametrize(
    "target",
    [
        "/ui/account",
        "/ui/account?tab=devices#top",
        "/somewhere/else?x=%2F",
        f"{FRONTEND}",
        f"{FRONTEND}/orders?id=7",
        "http://authsvc.test/ui/account",
    ],
)
async def test_a_path_here_or_an_allowed_origin_is_followed(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser, target: str
) -> None:
    make_user()
    settings = make_settings(allowed_origins=f"http://authsvc.test,{FRONTEND}")
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/login", params={"next": target})
        assert 'name="next"' in page.text
        response = await sign_in_through_page(client, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/login?notice=signed-out", "/ui/login?notice=signed-out"),
        ("//evil.example", "/ui/login"),
        ("https:evil.example", "/ui/login"),
    ],
)
async def test_a_sign_out_form_goes_to_next_only_when_safe(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    target: str,
    expected: str,
) -> None:
    make_user()
    async with client_factory(make_settings(), browser=True) as client:
        await sign_in_through_page(client)
        response = await client.post("/logout", params={"next": target})
    assert response.status_code == 303
    assert response.headers["location"] == expected
    assert response.headers["clear-site-data"] == '"cookies"'
