"""What every command shares: settings with clear errors, and a database session per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.orm import Session

from authsvc.config import Settings, describe_validation_error
from authsvc.errors import AuthError
from authsvc.revocation.publish import attach_version_publisher
from authsvc.services.admin import UserRef
from authsvc.storage.engine import engine_from_settings, make_session_factory


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


# A user is named by username, or by id with --id: never one tried after the other.
UserName = Annotated[
    str | None, typer.Argument(help="The username (or give --id).", show_default=False)
]
UserIdOption = Annotated[
    str | None, typer.Option("--id", help="Name the user by id instead.", show_default=False)
]


def user_reference(username: str | None, user_id: str | None) -> UserRef:
    if (username is None) == (user_id is None):
        raise fail("give a username or --id ID, exactly one of them")
    if user_id is not None:
        return UserRef.by_id(user_id)
    assert username is not None
    return UserRef.by_username(username)


def load_settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        raise fail("invalid configuration\n" + describe_validation_error(exc)) from None


@contextmanager
def database(settings: Settings) -> Iterator[Session]:
    """A session on the configured database; the command commits, an AuthError is one line.

    Token-version bumps made here are announced like the server's, so downstream caches
    listening on Redis hear of a revocation made from the command line too.
    """
    engine = engine_from_settings(settings)
    session_factory = make_session_factory(engine)
    publisher = attach_version_publisher(settings.redis_url, session_factory)
    owed: list[str] = []
    try:
        with session_factory() as db:
            yield db
    except AuthError as exc:
        raise fail(exc.detail) from None
    finally:
        if publisher is not None:
            owed = publisher.settle(settings.redis_publish_retry_seconds)
            publisher.close()
        engine.dispose()
    if owed:
        raise fail(
            "the change is saved, but Redis did not receive its announcement within "
            f"{settings.redis_publish_retry_seconds:g} s ({', '.join(owed)}): services "
            "caching on Redis may accept the old tokens for up to "
            "AUTHSVC_TOKEN_VERSION_CACHE_MAX_AGE_SECONDS; check AUTHSVC_REDIS_URL"
        )
