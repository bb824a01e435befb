"""`authsvc users ...`: accounts, created and governed by the operator."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from authsvc.cli.common import database, fail, load_settings
from authsvc.clock import SystemClock
from authsvc.errors import AuthError
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.services import admin
from authsvc.services.users import create_user

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)

UserArgument = Annotated[str, typer.Argument(help="Username or user id.")]


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
    with database(settings) as db:
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


def _act(action: admin.UserAction, user_ref: str, verb: str) -> None:
    with database(load_settings()) as db:
        user = admin.find_user(db, user_ref)
        action(db, user, actor="cli", now=SystemClock().now())
        db.commit()
        typer.echo(json.dumps({"id": user.id, "username": user.username, verb: True}))


@users_app.command("disable")
def users_disable(user: UserArgument) -> None:
    """Disable a user: no login, no refresh, every token revoked at once."""
    _act(admin.disable, user, "disabled")


@users_app.command("enable")
def users_enable(user: UserArgument) -> None:
    """Enable a disabled user again."""
    _act(admin.enable, user, "enabled")


@users_app.command("revoke")
def users_revoke(user: UserArgument) -> None:
    """Revoke every token and end every session of a user."""
    _act(admin.revoke, user, "revoked")
