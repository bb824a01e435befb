"""create_app(settings) -> FastAPI: routers, lifespan, and the one place errors become JSON."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from authsvc import __version__
from authsvc.api import account, admin, auth, health, introspect, sessions, wellknown
from authsvc.api import metrics as metrics_api
from authsvc.api.openapi import install_openapi
from authsvc.clock import Clock
from authsvc.config import Registration, Settings
from authsvc.errors import AuthError, ServiceUnavailable
from authsvc.keys.refresh import refresh_periodically
from authsvc.observability.logs import configure_logging
from authsvc.passwords.hashing import PasswordHasher
from authsvc.runtime import Runtime
from authsvc.services.purge_task import start_purge_task, stop_purge_task
from authsvc.web.body_limit import BodySizeLimit
from authsvc.web.csrf import CsrfProtection
from authsvc.web.observe import RequestObserver
from authsvc.web.security_headers import SecurityHeaders

logger = logging.getLogger("authsvc")

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


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
        key_refresher = asyncio.create_task(
            refresh_periodically(runtime.keys, timedelta(seconds=settings.key_refresh_seconds))
        )
        purger = None
        try:
            purger = await start_purge_task(runtime)
            yield
        finally:
            key_refresher.cancel()
            with suppress(asyncio.CancelledError):
                await key_refresher
            await stop_purge_task(purger)
            runtime.close()

    app = FastAPI(
        title="authsvc",
        version=__version__,
        summary="Stateless JWT authentication with HttpOnly cookies and token-version revocation.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it is outermost: it sees every response, 413s included.
    app.add_middleware(RequestObserver)
    for router in (auth.router, wellknown.router, health.router):
        app.include_router(router)
    # --- issue7: routers ---
    app.include_router(metrics_api.router)
    # --- issue5: sessions, account, admin ---
    for router in (sessions.router, account.router, admin.router):
        app.include_router(router)
    if settings.registration is Registration.open:
        app.include_router(account.registration_router)
    # --- issue4: downstream verification ---
    app.include_router(introspect.router)
    _install_error_handlers(app)
    _install_browser_security(app, settings)
    return app


def _install_browser_security(app: FastAPI, settings: Settings) -> None:
    """Outermost last: headers on every answer, CORS before CSRF so refusals stay readable."""
    app.add_middleware(CsrfProtection, settings=settings)
    app.add_middleware(
        CORSMiddleware,
        # An explicit list: never "*", which with credentials would reflect any origin.
        allow_origins=settings.effective_allowed_origins(),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["content-type", settings.csrf_header_name],
        max_age=600,
    )
    app.add_middleware(SecurityHeaders, settings=settings)
    install_openapi(app)


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory used by `authsvc serve`."""
    settings = Settings()
    # Each worker process builds its app here, so each one sets up its own logging.
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        # The RequestObserver reads it to label the outcome metrics.
        request.state.error_code = exc.code
        return JSONResponse(
            error_body(exc.code, exc.detail), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.state.error_code = "invalid_request"
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return JSONResponse(error_body("invalid_request", details), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        request.state.error_code = code
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # Fail closed: if the database cannot answer, nobody is authenticated.
        logger.warning("database unavailable: %s", type(exc.orig).__name__)
        unavailable = ServiceUnavailable("The database is unavailable; try again shortly.")
        request.state.error_code = unavailable.code
        return JSONResponse(
            error_body(unavailable.code, unavailable.detail),
            status_code=unavailable.status,
            headers={"Retry-After": "1"},
        )
