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
from authsvc.mfa import account as mfa_account
from authsvc.observability.audit import ClientInfo
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.services import admin
from authsvc.services.users import NewUser, PasswordRules, create_user
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
    email: Annotated[str | None, typer.Option(help="The user's email address.")] = None,
    email_verified: Annotated[
        bool, typer.Option("--email-verified", help="You vouch for the address: no confirmation.")
    ] = False,
) -> None:
    """Create a user; the password comes from standard input, never from the command line."""
    if email_verified and email is None:
        raise fail("--email-verified needs --email")
    password = _read_password(password_stdin)
    settings = load_settings()
    policy = PasswordPolicy.with_common_list(settings.password_min_length)
    try:
        # The operator's accounts obey the same policy as self-service ones.
        policy.check(password, username=username)
    except AuthError as exc:
        raise fail(exc.detail) from None
    with database(settings) as db:
        new = NewUser(username, password, role or [], email=email, email_verified=email_verified)
        user = create_user(db, Argon2Hasher(), new, now=SystemClock().now())
        db.commit()
        typer.echo(json.dumps(_describe(user)))


def _describe(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "roles": user.roles,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
    query: Annotated[
        str | None, typer.Option(help="Only users whose username or address contains this text.")
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
    rows = [["ID", "USERNAME", "EMAIL", "ROLES", "STATE", "CREATED"]]
    rows += [
        [
            user["id"],
            user["username"],
            (user["email"] or "-")
            + ("" if user["email_verified"] or not user["email"] else " (?)"),
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
def users_revoke(
    username: UserName = None,
    user_id: UserIdOption = None,
    everyone: Annotated[
        bool,
        typer.Option(
            "--all", help="Every user at once: run this after restoring a database backup."
        ),
    ] = False,
) -> None:
    """Revoke every token and end every session of a user (or of every user, with --all)."""
    if not everyone:
        _act(admin.revoke, user_reference(username, user_id), "revoked")
        return
    if username is not None or user_id is not None:
        raise fail("give a username, --id ID or --all, exactly one of them")
    with database(load_settings()) as db:
        count = admin.revoke_everyone(db, actor="cli", now=SystemClock().now())
        db.commit()
    typer.echo(json.dumps({"users": count, "revoked": True}))


@users_app.command("mfa-reset")
def users_mfa_reset(username: UserName = None, user_id: UserIdOption = None) -> None:
    """Remove every second factor and recovery code of a user (a lost phone); every token and
    session of theirs ends, and the next login asks for the password alone (or to enrol)."""
    with database(load_settings()) as db:
        user = admin.find_user(db, user_reference(username, user_id))
        mfa_account.reset(db, user.id, client=ClientInfo(), now=SystemClock().now(), actor="cli")
        db.commit()
        typer.echo(json.dumps({"id": user.id, "username": user.username, "mfa_reset": True}))


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


@users_app.command("email")
def users_email(
    username: UserName = None,
    user_id: UserIdOption = None,
    set_to: Annotated[
        str | None, typer.Option("--set", help="Give the user this address.", show_default=False)
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Take the address away.")] = False,
    verified: Annotated[
        bool, typer.Option("--verified", help="You vouch for the address: no confirmation.")
    ] = False,
) -> None:
    """Show a user's email address, or set or remove it: a new address ends every session."""
    reference = user_reference(username, user_id)
    if set_to is not None and remove:
        raise fail("give --set ADDRESS or --remove, not both")
    if remove and verified:
        raise fail("--verified needs an address")
    with database(load_settings()) as db:
        user = admin.find_user(db, reference)
        changed = False
        if set_to is not None or remove or verified:
            # --verified alone vouches for the address the user has now.
            address = None if remove else set_to if set_to is not None else user.email
            if address is None and verified:
                raise fail("the user has no email address to mark verified")
            changed = admin.change_email(
                db, user, address, verified=verified, actor="cli", now=SystemClock().now()
            )
            db.commit()
        typer.echo(json.dumps({**_describe(user), "changed": changed}))
