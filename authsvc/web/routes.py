"""Routers served as the app's own routes, and the per-call checks served ahead of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

QuickEndpoint = Callable[[Request], Awaitable[Response]]


class QuickRoute(Route):
    """A GET route outside the OpenAPI document, named in the request's scope (as FastAPI's
    routes are, and as the request metrics and access log read it)."""

    def __init__(self, path: str, endpoint: QuickEndpoint):
        super().__init__(path, endpoint, methods=["GET"], include_in_schema=False)
        # Starlette adds HEAD to a GET route; the documented one answers it 405, as this does.
        self.methods = {"GET"}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_routes(app: FastAPI, router: APIRouter) -> None:
    """Adds the router's routes to the app's own list, in order.

    `include_router` keeps each router as one nested route that works out its routes again on
    every request: a request walked a few microseconds per router ahead of its own, a third of
    a cheap call. A route built by a router already carries the router's prefix, tags and
    options, so nothing is lost by serving it directly; our routers have no lifespan or event
    handlers of their own to carry over.
    """
    if router.on_startup or router.on_shutdown:
        raise ValueError("a router with event handlers must be included, not served flat")
    app.router.routes.extend(router.routes)


def serve_quick_routes(
    app: FastAPI, endpoints: Mapping[str, QuickEndpoint], *, behind: APIRouter
) -> None:
    """Serves each GET path by a plain endpoint that reads what it needs from the request,
    ahead of every route but those of `behind` (served already).

    A FastAPI route works out its endpoint's dependencies and opens an exit stack for them on
    every request: for the per-call check, a third of the whole request's instructions. The
    FastAPI route of the same path stays behind it for the OpenAPI document (and must exist, so
    that nothing is served undocumented); both call the same code. Errors reach the app's
    exception handlers as from any route.
    """
    documented = {
        route.path
        for route in app.router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    }
    quick: list[Route] = []
    for path, endpoint in endpoints.items():
        if path not in documented:
            raise ValueError(f"GET {path} has no documented route to stand in front of")
        quick.append(QuickRoute(path, endpoint))
    position = max(app.router.routes.index(route) for route in behind.routes) + 1
    app.router.routes[position:position] = quick
