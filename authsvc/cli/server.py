"""`authsvc serve`, `authsvc db upgrade` and `authsvc openapi`: running the service."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from sqlalchemy import func, select

from authsvc.cli.common import database, fail, load_settings
from authsvc.config import Settings, served_url
from authsvc.errors import DatabaseNotReady, MissingSetting, StartupError
from authsvc.observability.logs import configure_logging
from authsvc.observability.metrics import MULTIPROCESS_DIR_ENV, multiprocess_directory
from authsvc.revocation.siblings import sibling_counter_file
from authsvc.runtime import Runtime
from authsvc.storage.migrations import upgrade_database
from authsvc.storage.models import User

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Default: AUTHSVC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: AUTHSVC_PORT.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default: AUTHSVC_WORKERS); /metrics sums all of them.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn; SIGTERM drains in-flight requests before exiting."""
    before_start_up = signal.signal(signal.SIGTERM, _stop_during_start_up)
    import uvicorn

    # The options stand for their settings, in this process and in every worker it starts, so
    # that an issuer left unset follows the port actually served.
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"AUTHSVC_{name}"] = str(value)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    with ExitStack() as stack:
        if settings.workers > 1 or os.environ.get(MULTIPROCESS_DIR_ENV):
            # Before any worker starts: they find the directory in the environment.
            stack.enter_context(multiprocess_directory())
        if settings.workers > 1:
            # Before any worker starts: each maps the counter named in the environment.
            stack.enter_context(sibling_counter_file())
        # Start once here, so a bad secret or an unmigrated database is one clear line, not a
        # traceback from every worker; this also creates the first signing key if there is none.
        _start_once(settings)
        _introduce(settings)
        # uvicorn claims SIGTERM as it starts (to drain requests), and hands it back to the
        # handler it found once it has stopped, to act on the signal again: it must find the
        # one this process started with, not the start-up's.
        signal.signal(signal.SIGTERM, before_start_up or signal.SIG_DFL)
        uvicorn.run(
            "authsvc.app:create_app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            # authsvc decides itself which proxies it believes (AUTHSVC_TRUSTED_PROXIES).
            proxy_headers=False,
            server_header=False,
            log_level=settings.log_level,
            # Our logging (JSON, request ids) stays in charge; the access log is the app's own.
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )


# How often a start-up that waits for the database tries again.
DATABASE_RETRY_SECONDS = 2.0


def _start_once(settings: Settings) -> None:
    """Start the runtime and close it again; a database not ready yet is tried again every
    DATABASE_RETRY_SECONDS for AUTHSVC_DATABASE_WAIT_SECONDS, then refused with its reason."""
    deadline = time.monotonic() + settings.database_wait_seconds
    while True:
        try:
            Runtime.start(settings).close()
        except DatabaseNotReady as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise fail(str(exc)) from None
            typer.echo(f"authsvc: waiting for the database ({left:.0f} s left): {exc}", err=True)
            time.sleep(min(DATABASE_RETRY_SECONDS, left))
        except (MissingSetting, StartupError) as exc:
            raise fail(str(exc)) from None
        else:
            return


def _stop_during_start_up(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before uvicorn serves: exit at once, with a line that says so.

    As a container's first process, the image's entrypoint, a signal the process has not
    claimed is ignored by the kernel, so without this a stop during start-up (waiting for a
    database, say) would wait for the orchestrator's SIGKILL. SystemExit, not an Exception,
    so that no handler on the way mistakes it for a failure to retry.
    """
    typer.secho("authsvc: stopped by SIGTERM during start-up", err=True)
    raise SystemExit(128 + signum)


def _introduce(settings: Settings) -> None:
    """Where the service is, and what to do next, for the person who just started it."""
    lines = [
        f"authsvc: serving on {served_url(settings.host, settings.port)} "
        f"with {settings.workers} worker(s)",
        f"authsvc: issuer {settings.issuer}",
        f"authsvc: JWKS {settings.issuer}/.well-known/jwks.json",
    ]
    with database(settings) as db:
        has_users = db.scalar(select(func.count()).select_from(User)) != 0
    if has_users:
        lines.append(f"authsvc: log in with POST {settings.issuer}/login")
    else:
        lines.append(
            "authsvc: next, create a user: authsvc users create alice --password-stdin "
            "(then log in with POST /login)"
        )
    typer.echo("\n".join(lines), err=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the Alembic migrations to AUTHSVC_DATABASE_URL."""
    settings = load_settings()
    upgrade_database(settings.database_url, revision)
    typer.echo(f"database is at {revision}")


def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI document of the HTTP API (default configuration)."""
    from authsvc.app import create_app

    # Built from the defaults, not the environment, so the document is the same everywhere.
    document = json.dumps(create_app(Settings.model_construct()).openapi(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(document)
    else:
        output.write_text(document)
