"""`authsvc serve`, `authsvc db upgrade` and `authsvc openapi`: running the service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from authsvc.cli.common import fail, load_settings
from authsvc.config import Settings
from authsvc.errors import MissingSetting, StartupError
from authsvc.observability.logs import configure_logging
from authsvc.runtime import Runtime
from authsvc.storage.migrations import upgrade_database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Default: AUTHSVC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: AUTHSVC_PORT.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes. Each keeps its own /metrics: for whole-instance metrics run "
            "one worker per instance and scale with instances.",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API with uvicorn; SIGTERM drains in-flight requests before exiting."""
    import uvicorn

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    # Start once here, so a bad secret or an unmigrated database is one clear line, not a
    # traceback from every worker; this also creates the first signing key if there is none.
    try:
        Runtime.start(settings).close()
    except (MissingSetting, StartupError) as exc:
        raise fail(str(exc)) from None
    uvicorn.run(
        "authsvc.app:create_app_from_environment",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # authsvc decides itself which proxies it believes (AUTHSVC_TRUSTED_PROXIES).
        proxy_headers=False,
        server_header=False,
        log_level=settings.log_level,
        # Our logging (JSON, request ids) stays in charge; the access log is the app's own line.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


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
