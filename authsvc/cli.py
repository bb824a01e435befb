"""The `authsvc` command: serve, db, users, openapi."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from authsvc.clock import SystemClock
from authsvc.config import MissingSetting, Settings, describe_validation_error
from authsvc.db import engine_from_settings, make_session_factory
from authsvc.errors import AuthError
from authsvc.migrations_runner import upgrade_database
from authsvc.passwords import Argon2Hasher
from authsvc.runtime import Runtime, StartupError
from authsvc.services.users import create_user

app = typer.Typer(help="authsvc: stateless JWT authentication service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise fail("invalid configuration\n" + describe_validation_error(exc)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: AUTHSVC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: AUTHSVC_PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
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
        timeout_graceful_shutdown=20,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the Alembic migrations to AUTHSVC_DATABASE_URL."""
    settings = load_settings()
    upgrade_database(settings.database_url, revision)
    typer.echo(f"database is at {revision}")


@users_app.command("create")
def users_create(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    role: Annotated[list[str] | None, typer.Option(help="A role; repeat for more.")] = None,
) -> None:
    """Create a user; the password comes from standard input, never from the command line."""
    if not password_stdin:
        raise fail("pass --password-stdin and give the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    settings = load_settings()
    engine = engine_from_settings(settings)
    try:
        with make_session_factory(engine)() as db:
            user = create_user(
                db,
                Argon2Hasher(),
                username=username,
                password=password,
                roles=role or [],
                now=SystemClock().now(),
            )
            db.commit()
            typer.echo(json.dumps({"id": user.id, "username": user.username, "roles": user.roles}))
    except AuthError as exc:
        raise fail(exc.detail) from None
    finally:
        engine.dispose()


@app.command()
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


def main() -> None:
    app()
