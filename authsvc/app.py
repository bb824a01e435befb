"""create_app(settings) -> FastAPI: routers, lifespan, and the one place errors become JSON."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from authsvc import __version__
from authsvc.api import (
    account,
    admin,
    auth,
    federation,
    forward_auth,
    health,
    introspect,
    mail,
    mfa,
    passkeys,
    sessions,
    wellknown,
)
from authsvc.api import metrics as metrics_api
from authsvc.api.openapi import install_openapi
from authsvc.clock import Clock
from authsvc.config import Registration, Settings
from authsvc.errors import (
    AuthError,
    BadRequest,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_response,
    framework_error,
)
from authsvc.keys.refresh import refresh_periodically
from authsvc.observability.logs import configure_logging
from authsvc.passwords.hashing import PasswordHasher
from authsvc.runtime import Runtime
from authsvc.services.purge import PeriodicPurge
from authsvc.ui import install_ui
from authsvc.web.body_limit import BodySizeLimit
from authsvc.web.csrf import CsrfProtection
from authsvc.web.front import FrontDoor
from authsvc.web.json_body import StrictJsonBodies, is_json
from authsvc.web.routes import serve_quick_routes, serve_routes

logger = logging.getLogger("authsvc")


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await run_in_threadpool(Runtime.start, settings, clock=clock, hasher=hasher)
        app.state.runtime = runtime
        _exempt_from_cycle_collection()
        tasks = [
            asyncio.create_task(
                refresh_periodically(runtime.keys, timedelta(seconds=settings.key_refresh_seconds))
            )
        ]
        if runtime.metrics.multiprocess:
            tasks.append(asyncio.create_task(runtime.metrics.mirror_periodically()))
        try:
            if settings.purge_interval_seconds:
                purge = PeriodicPurge(
                    runtime.session_factory,
                    runtime.retention,
                    runtime.clock,
                    timedelta(seconds=settings.purge_interval_seconds),
                )
                tasks.append(await purge.start())
            yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            runtime.close()
            # What this app built may be garbage now (tests build many apps in one process).
            gc.unfreeze()

    app = FastAPI(
        title="authsvc",
        version=__version__,
        summary="Stateless JWT authentication with HttpOnly cookies and token-version revocation.",
        lifespan=lifespan,
    )
    # Innermost first: strict JSON reads only what the body-size limit lets through.
    app.add_middleware(StrictJsonBodies)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Routes are matched in order, router by router: the probes and the per-call checks, the
    # most frequent requests, come first (no two routers serve the same path).
    for router in (
        health.router,
        auth.router,
        forward_auth.router,
        wellknown.router,
        metrics_api.router,
        sessions.router,
        account.router,
        admin.router,
        mfa.router,
        passkeys.router,
        federation.router,
        introspect.router,
    ):
        serve_routes(app, router)
    if settings.registration is Registration.open:
        serve_routes(app, account.registration_router)
    if settings.mail_enabled:
        serve_routes(app, mail.router)
    if settings.ui:
        install_ui(app, settings)
    # The per-call checks, the busiest routes by far, skip FastAPI's dependency work. They
    # come right after the probes, which stay as cheap as they were: every benchmark of the
    # check compares it with /healthz.
    serve_quick_routes(
        app,
        {
            "/session": auth.current_session_quick,
            "/verify": forward_auth.verify_quick,
            "/verify/{forwarded_path:path}": forward_auth.verify_quick,
        },
        behind=health.router,
    )
    _install_error_handlers(app)
    app.add_middleware(CsrfProtection, settings=settings)
    # Added last, so it is outermost: it sees every answer, CSRF and size refusals included, and
    # sends cross-origin requests through CORS before CSRF, so refusals stay readable.
    app.add_middleware(FrontDoor, settings=settings)
    install_openapi(app)
    return app


def _body_refused(exc: RequestValidationError) -> bool:
    return any(error["loc"][:1] == ("body",) for error in exc.errors())


def _exempt_from_cycle_collection() -> None:
    """Everything built at start-up lives as long as the process: frozen, it is left out of the
    cycle collector's full passes, which otherwise walk the whole heap (imports, routes, models)
    and stalled every request in flight for 30-100 ms each time."""
    gc.freeze()


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory used by `authsvc serve`."""
    settings = Settings()
    # Each worker process builds its app here, so each one sets up its own logging.
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def _install_error_handlers(app: FastAPI) -> None:
    """Every exception becomes the one error body; sending it records the code for the metrics."""

    @app.exception_handler(AuthError)
    async def auth_error(_request: Request, exc: AuthError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type and not is_json(media_type) and _body_refused(exc):
            # FastAPI does not read such a body as JSON and reports the fields as missing.
            return error_response(UnsupportedMediaType("The request body must be JSON."))
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return error_response(BadRequest(details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(framework_error(exc))

    @app.exception_handler(DBAPIError)
    async def database_error(_request: Request, exc: DBAPIError) -> Response:
        # Fail closed: if the database cannot answer, nobody is authenticated.
        logger.warning("database unavailable: %s", type(exc.orig).__name__)
        unavailable = ServiceUnavailable("The database is unavailable; try again shortly.")
        return error_response(unavailable, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, _exc: Exception) -> Response:
        # Starlette re-raises it after this answer, so the server still logs the traceback.
        return error_response(AuthError())
