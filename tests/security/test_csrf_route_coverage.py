"""Every state-changing endpoint sits behind the CSRF check: the unsafe (method, path) pairs are
read from the app's own routes, into included routers, so an endpoint added later is covered too;
a forged request to each is refused with csrf_failed and leaves users and sessions as they were."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.web.csrf import SAFE_METHODS
from tests.helpers.csrf import EVIL, HEADER
from tests.helpers.database import execute
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser


def api_routes(routes: Iterable[object], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint of a route list, into included routers (FastAPI keeps those whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(included.routes, prefix + getattr(context, "prefix", ""))


def unsafe_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path template) of the app that is not a safe method, read from its routes."""
    return sorted(
        (method, path)
        for path, route in api_routes(create_app(settings).routes)
        for method in route.methods or ()
        if method not in SAFE_METHODS
    )


async def test_every_state_changing_endpoint_is_covered(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    database_url: str,
) -> None:
    """The protection sits in front of every route: the list is the app's own, so an unsafe
    endpoint added later is covered here too (or the test fails on its path parameters)."""
    settings = make_settings(registration="open")
    make_user(roles=["admin"])
    # A disabled account, so that a forged `enable` would show in the snapshot as well.
    target = make_user("bob")
    execute(database_url, "UPDATE users SET disabled = true WHERE id = :id", id=target)
    routes = unsafe_routes(settings)
    # What this test knows the app to have today, so that a route lost from the list shows.
    assert {
        ("POST", "/logout"),
        ("POST", "/password"),
        ("POST", "/register"),
        ("POST", "/admin/users/{user}/enable"),
        ("DELETE", "/sessions/{sid}"),
        ("POST", "/login/mfa"),
        ("DELETE", "/account/mfa/factors/{factor_id}"),
    } <= set(routes)
    async with client_factory(settings, browser=False) as client:
        login_response = await client.post(
            "/login", json={"username": "alice", "password": PASSWORD}
        )
        sid = login_response.json()["session"]["id"]
        csrf = client.cookies["authsvc_csrf"]
        snapshot = "SELECT * FROM users ORDER BY id", "SELECT * FROM sessions ORDER BY id"
        before = [db_query(sql) for sql in snapshot]
        forged = {"Origin": EVIL, HEADER: csrf}
        parameters = {
            "sid": sid,
            "user": target,
            "factor_id": "a-factor",
            "identity_id": "an-identity",
        }
        for method, template in routes:
            path = template.format(**parameters)  # a new parameter name fails here: add it
            response = await client.request(method, path, json={}, headers=forged)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"] == "csrf_failed"
        assert [db_query(sql) for sql in snapshot] == before
        assert (await client.get("/session")).status_code == 200
