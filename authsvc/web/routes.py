"""Routers served as the app's own routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


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
