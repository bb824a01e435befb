"""`authsvc users ...`: accounts, created and governed by the operator."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from authsvc.cli.common import (
    UserIdOption,
    UserName,
    database,
    fail,
    load_settings,
    user_reference,
)
from authsvc.clock import SystemClock
from authsvc.errors import AuthError
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.services import admin
from authsvc.services.users import PasswordRules, create_user
from authsvc.storage.models import User

users_app = typer.Typer(help="User accounts.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        raise fail("pass --password-stdin and give the password on standard input")
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("create")
def users_create(
    username: str,
    password_stdin: PasswordStdin = False,
    role: Annotated[list[str] | None, typer.Option(help="A role; repeat for more.")] = None,
) -> None:
    """Create a user; the password comes from standard input, never from the command line."""
    password = _read_password(password_stdin)
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


def _describe(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "roles": user.roles,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
    query: Annotated[
        str | None, typer.Option(help="Only users whose username contains this text.")
    ] = None,
) -> None:
    """Every user (or those matching --query), in username order."""
    listed: list[dict[str, Any]] = []
    with database(load_settings()) as db:
        cursor = None
        while True:
            page = admin.list_users(db, query=query, limit=200, cursor=cursor)
            listed += [_describe(user) for user in page.users]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    rows = [["ID", "USERNAME", "ROLES", "STATE", "CREATED"]]
    rows += [
        [
            user["id"],
            user["username"],
            ",".join(user["roles"]) or "-",
            "disabled" if user["disabled"] else "active",
            user["created_at"][:19].replace("T", " "),
        ]
        for user in listed
    ]
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _act(action: admin.UserAction, reference: admin.UserRef, verb: str) -> None:
    with database(load_settings()) as db:
        user = admin.find_user(db, reference)
        action(db, user, actor="cli", now=SystemClock().now())
        db.commit()
        typer.echo(json.dumps({"id": user.id, "username": user.username, verb: True}))


@users_app.command("disable")
def users_disable(username: UserName = None, user_id: UserIdOption = None) -> None:
    """Disable a user: no login, no refresh, every token revoked at once."""
    _act(admin.disable, user_reference(username, user_id), "disabled")


@users_app.command("enable")
def users_enable(username: UserName = None, user_id: UserIdOption = None) -> None:
    """Enable a disabled user again."""
    _act(admin.enable, user_reference(username, user_id), "enabled")


@users_app.command("revoke")
def users_revoke(username: UserName = None, user_id: UserIdOption = None) -> None:
    """Revoke every token and end every session of a user."""
    _act(admin.revoke, user_reference(username, user_id), "revoked")


@users_app.command("set-password")
def users_set_password(
    username: UserName = None, user_id: UserIdOption = None, password_stdin: PasswordStdin = False
) -> None:
    """Set a user's password (the policy applies); every token and session of theirs ends."""
    reference = user_reference(username, user_id)
    password = _read_password(password_stdin)
    settings = load_settings()
    rules = PasswordRules(
        Argon2Hasher(), PasswordPolicy.with_common_list(settings.password_min_length)
    )
    with database(settings) as db:
        user = admin.find_user(db, reference)
        admin.change_password(db, user, password, rules, actor="cli", now=SystemClock().now())
        db.commit()
        typer.echo(json.dumps({"id": user.id, "username": user.username, "password_set": True}))


@users_app.command("roles")
def users_roles(
    username: UserName = None,
    user_id: UserIdOption = None,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="Give this role; repeatable.")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Take this role away; repeatable.")
    ] = None,
) -> None:
    """Show a user's roles, or change them: tokens carrying the old ones are refused at once."""
    reference = user_reference(username, user_id)
    added, removed = set(add or []), set(remove or [])
    if added & removed:
        raise fail(f"a role cannot be both added and removed: {', '.join(sorted(added & removed))}")
    with database(load_settings()) as db:
        user = admin.find_user(db, reference)
        roles = sorted((set(user.roles) | added) - removed)
        changed = admin.set_roles(db, user, roles, actor="cli", now=SystemClock().now())
        db.commit()
        typer.echo(
            json.dumps(
                {"id": user.id, "username": user.username, "roles": user.roles, "changed": changed}
            )
        )


@users_app.command("delete")
def users_delete(
    username: UserName = None,
    user_id: UserIdOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user with their sessions; the audit trail keeps their events under a pseudonym."""
    reference = user_reference(username, user_id)
    with database(load_settings()) as db:
        user = admin.find_user(db, reference)
        described = {"id": user.id, "username": user.username}
        if not yes and not typer.confirm(
            f"Delete user {user.username} ({user.id}) for good?", err=True
        ):
            raise fail("nothing deleted")
        admin.delete_user(db, user, actor="cli", now=SystemClock().now())
        db.commit()
        typer.echo(json.dumps({**described, "deleted": True}))
