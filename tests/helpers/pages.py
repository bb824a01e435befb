"""Driving the hosted pages as a browser without JavaScript would: load a page, read its form's
hidden CSRF field, and post the form from the page's origin."""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

from tests.helpers.defaults import ISSUER, PASSWORD

_HIDDEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def form_token(page: httpx.Response) -> str:
    """The CSRF token the page's forms carry (every form of a page carries the same one)."""
    tokens: set[str] = set(_HIDDEN.findall(page.text))
    assert len(tokens) == 1, tokens
    return tokens.pop()


async def submit(
    client: httpx.AsyncClient,
    page: httpx.Response,
    action: str,
    fields: Mapping[str, str],
    *,
    origin: str = ISSUER,
) -> httpx.Response:
    """POST `fields` to `action` as the form on `page` does: urlencoded, with its hidden token."""
    return await client.post(
        action,
        data={"csrf_token": form_token(page), **fields},
        headers={"Origin": origin},
    )


async def sign_in_through_page(
    client: httpx.AsyncClient,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    next_path: str | None = None,
    remember: bool = False,
) -> httpx.Response:
    """GET /ui/login, then submit its form; the answer to the post."""
    page = await client.get("/ui/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    fields = {"username": username, "password": password}
    if next_path is not None:
        fields["next"] = next_path
    if remember:
        fields["remember"] = "on"
    return await submit(client, page, "/ui/login", fields)
