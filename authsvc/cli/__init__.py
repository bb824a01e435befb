"""The `authsvc` command: serve, db, users, keys, sessions, openapi."""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from authsvc.api.sessions import device
from authsvc.clock import SystemClock
from authsvc.config import Settings, SigningAlgorithm, describe_validation_error
from authsvc.errors import AuthError, KeyDecryptionError, MissingSetting, RaceLost, StartupError
from authsvc.keys import lifecycle as key_lifecycle
from authsvc.keys.ring import KeyEncryptor
from authsvc.observability.logs import configure_logging
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.revocation.publish import attach_version_publisher
from authsvc.runtime import Runtime
from authsvc.services import admin, sessions
from authsvc.services.purge import purge
from authsvc.services.users import create_user
from authsvc.storage.engine import engine_from_settings, make_session_factory
from authsvc.storage.migrations import upgrade_database
from authsvc.storage.models import SigningKey

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
    policy = PasswordPolicy.with_common_list(settings.password_min_length)
    try:
        # The operator's accounts obey the same policy as self-service ones.
        policy.check(password, username=username)
    except AuthError as exc:
        raise fail(exc.detail) from None
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


# --- issue3: signing keys ---

keys_app = typer.Typer(help="Signing keys: list, rotate, revoke, re-encrypt.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@contextmanager
def key_session() -> Iterator[tuple[Settings, Session, KeyEncryptor]]:
    """A database session and the key encryptor; commits when the command succeeds."""
    settings = load_settings()
    if settings.hs256_mode:
        raise fail(
            "AUTHSVC_JWT_SECRETS is set (HS256 mode): no key is stored; rotate by putting a new "
            "secret first in the list, revoke by removing one"
        )
    try:
        encryptor = KeyEncryptor(settings.require_key_encryption_secret())
    except MissingSetting as exc:
        raise fail(str(exc)) from None
    engine = engine_from_settings(settings)
    try:
        with make_session_factory(engine)() as db:
            try:
                yield settings, db, encryptor
                db.commit()
            except (AuthError, RaceLost) as exc:
                db.rollback()
                detail = exc.detail if isinstance(exc, AuthError) else "another instance won"
                raise fail(detail) from None
            except KeyDecryptionError as exc:
                db.rollback()
                raise fail(str(exc)) from None
    finally:
        engine.dispose()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(key: SigningKey) -> dict[str, str | None]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created": _iso(key.created_at),
        "activate_at": _iso(key.activate_at),
        "activated": _iso(key.activated_at),
        "retire_after": _iso(key.retire_after),
        "retired": _iso(key.retired_at),
        "revoked": _iso(key.revoked_at),
    }


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """Show every key: kid, alg, state, created, activated, retire-after."""
    with key_session() as (_settings, db, _encryptor):
        keys = [_describe(key) for key in key_lifecycle.list_keys(db)]
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    columns = ("kid", "alg", "state", "created", "activate_at", "activated", "retire_after")
    rows = [[name.upper().replace("_", "-") for name in columns]]
    rows += [
        [_short_time(key[name]) if name != "kid" else str(key[name]) for name in columns]
        for key in keys
    ]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())


def _short_time(value: str | None) -> str:
    return "-" if value is None else value[:19].replace("T", " ")


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        SigningAlgorithm | None, typer.Option(help="Default: AUTHSVC_SIGNING_ALGORITHM.")
    ] = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Sign with the new key at once: only for one instance with no downstream caches.",
        ),
    ] = False,
) -> None:
    """Add the next key: published at once, signing after the publish-ahead delay."""
    with key_session() as (settings, db, encryptor):
        key = key_lifecycle.rotate(
            db,
            encryptor,
            key_lifecycle.RotationPolicy.from_settings(settings),
            now=SystemClock().now(),
            alg=alg.value if alg is not None else None,
            immediately=now,
        )
        described = _describe(key)
    typer.echo(json.dumps(described))


@keys_app.command("revoke")
def keys_revoke(kid: str) -> None:
    """Withdraw a key at once; its tokens are refused, and a successor signs if it was active."""
    with key_session() as (settings, db, encryptor):
        result = key_lifecycle.revoke(
            db,
            encryptor,
            key_lifecycle.RotationPolicy.from_settings(settings),
            kid,
            now=SystemClock().now(),
        )
        described = {
            "revoked": result.revoked.kid,
            "successor": result.successor.kid if result.successor is not None else None,
        }
    typer.echo(json.dumps(described))


@keys_app.command("reencrypt")
def keys_reencrypt(
    new_secret_stdin: Annotated[
        bool,
        typer.Option("--new-secret-stdin", help="Read the new secret from standard input."),
    ] = False,
) -> None:
    """Re-encrypt every private key from AUTHSVC_KEY_ENCRYPTION_SECRET to a new secret."""
    if not new_secret_stdin:
        raise fail("pass --new-secret-stdin and give the new secret on standard input")
    new_secret = sys.stdin.readline().rstrip("\r\n")
    if len(new_secret) < 32:
        raise fail("the new secret must be at least 32 characters (`openssl rand -base64 32`)")
    with key_session() as (settings, db, old):
        if hmac.compare_digest(settings.require_key_encryption_secret(), new_secret):
            raise fail("the new secret is the one already configured")
        result = key_lifecycle.reencrypt(db, old, KeyEncryptor(new_secret), now=SystemClock().now())
    typer.echo(json.dumps({"reencrypted": result.reencrypted, "already_new": result.already_new}))
    typer.echo(
        "now set AUTHSVC_KEY_ENCRYPTION_SECRET to the new secret on every instance", err=True
    )


# --- end issue3 ---

# --- issue4: downstream verification ---
introspection_app = typer.Typer(help="Clients of POST /introspect.", no_args_is_help=True)
app.add_typer(introspection_app, name="introspection-client")


@introspection_app.command("new")
def introspection_client_new(
    client_id: Annotated[str, typer.Argument(help="A name for the calling service.")],
) -> None:
    """Print a new client secret and the AUTHSVC_INTROSPECTION_CLIENTS entry that admits it."""
    from authsvc.services.introspection import new_client_secret

    secret, digest = new_client_secret()
    entry = f"{client_id}:{digest}"
    try:
        Settings(_env_file=None, introspection_clients=[entry])
    except ValidationError as exc:
        raise fail(describe_validation_error(exc)) from None
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret, "entry": entry}))


# --- issue5: admin commands and the purge ---
sessions_app = typer.Typer(help="Sessions.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")


def _admin_action(action: Callable[..., None], user_ref: str, verb: str) -> None:
    settings = load_settings()
    engine = engine_from_settings(settings)
    session_factory = make_session_factory(engine)
    # Downstream caches listening on Redis must hear of a revocation made here too.
    publisher = attach_version_publisher(settings.redis_url, session_factory)
    try:
        with session_factory() as db:
            user = admin.find_user(db, user_ref)
            action(db, user, actor="cli", now=SystemClock().now())
            db.commit()
            typer.echo(json.dumps({"id": user.id, "username": user.username, verb: True}))
    except AuthError as exc:
        raise fail(exc.detail) from None
    finally:
        if publisher is not None:
            publisher.close()
        engine.dispose()


@users_app.command("disable")
def users_disable(user: Annotated[str, typer.Argument(help="Username or user id.")]) -> None:
    """Disable a user: no login, no refresh, every token revoked at once."""
    _admin_action(admin.disable, user, "disabled")


@users_app.command("enable")
def users_enable(user: Annotated[str, typer.Argument(help="Username or user id.")]) -> None:
    """Enable a disabled user again."""
    _admin_action(admin.enable, user, "enabled")


@users_app.command("revoke")
def users_revoke(user: Annotated[str, typer.Argument(help="Username or user id.")]) -> None:
    """Revoke every token and end every session of a user."""
    _admin_action(admin.revoke, user, "revoked")


@sessions_app.command("list")
def sessions_list(user: Annotated[str, typer.Argument(help="Username or user id.")]) -> None:
    """A user's live sessions (devices), most recently used first, as JSON."""
    settings = load_settings()
    engine = engine_from_settings(settings)
    try:
        with make_session_factory(engine)() as db:
            target = admin.find_user(db, user)
            rows = sessions.list_alive(db, target.id, now=SystemClock().now())
            listed = [
                device(row, current_sid="").model_dump(mode="json", exclude={"current"})
                for row in rows
            ]
    except AuthError as exc:
        raise fail(exc.detail) from None
    finally:
        engine.dispose()
    typer.echo(json.dumps({"user": target.id, "sessions": listed}))


@sessions_app.command("purge")
def sessions_purge() -> None:
    """Delete sessions ended or expired beyond the retention, and old audit events."""
    settings = load_settings()
    engine = engine_from_settings(settings)
    try:
        with make_session_factory(engine)() as db:
            purged = purge(
                db,
                now=SystemClock().now(),
                session_retention=timedelta(seconds=settings.session_retention_seconds),
                audit_retention=timedelta(days=settings.audit_retention_days),
            )
            db.commit()
    finally:
        engine.dispose()
    typer.echo(json.dumps({"sessions": purged.sessions, "audit_events": purged.audit_events}))


def main() -> None:
    app()
