"""`authsvc sessions ...`: a user's devices, the purge of what has served its time, and ending
at once the sessions the MFA policy would not renew."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import TypeAdapter

from authsvc.cli.common import (
    UserIdOption,
    UserName,
    database,
    fail,
    load_settings,
    user_reference,
)
from authsvc.clock import SystemClock
from authsvc.config import MfaPolicy
from authsvc.mfa import enforcement
from authsvc.mfa.service import MfaRules
from authsvc.services import admin, sessions
from authsvc.services.purge import Retention, purge

sessions_app = typer.Typer(help="Sessions.", no_args_is_help=True)


_DEVICES = TypeAdapter(list[sessions.Device])


@sessions_app.command("list")
def sessions_list(username: UserName = None, user_id: UserIdOption = None) -> None:
    """A user's live sessions (devices), most recently used first, as JSON."""
    reference = user_reference(username, user_id)
    with database(load_settings()) as db:
        target = admin.find_user(db, reference)
        rows = sessions.list_alive(db, target.id, now=SystemClock().now())
        listed = _DEVICES.dump_python([sessions.describe(row) for row in rows], mode="json")
    for device in listed:
        # No session of the operator's own is among them.
        del device["current"]
    typer.echo(json.dumps({"user": target.id, "sessions": listed}))


@sessions_app.command("purge")
def sessions_purge() -> None:
    """Delete sessions ended or expired beyond the retention, and old audit events."""
    settings = load_settings()
    with database(settings) as db:
        purged = purge(db, Retention.from_settings(settings), now=SystemClock().now())
        db.commit()
    typer.echo(
        json.dumps(
            {
                "sessions": purged.sessions,
                "audit_events": purged.audit_events,
                "link_tokens": purged.link_tokens,
            }
        )
    )


@sessions_app.command("enforce-mfa")
def sessions_enforce_mfa(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the sessions, end none of them.")
    ] = False,
) -> None:
    """End now every session the MFA policy would not renew: signed in without a second
    factor, by a user the policy (AUTHSVC_MFA, AUTHSVC_MFA_REQUIRED_ROLES) wants one of.

    Run it with the service's settings, after changing the policy or granting a required role.
    """
    settings = load_settings()
    rules = MfaRules.from_settings(settings)
    if rules.policy is MfaPolicy.optional:
        raise fail(
            "AUTHSVC_MFA is optional: the policy wants no second factor of anyone, so no "
            "session falls short of it; set AUTHSVC_MFA as the service runs with"
        )
    total = enforcement.Shortfall()
    with database(settings) as db:
        for user_id in enforcement.users_to_check(db, now=SystemClock().now()):
            total += enforcement.end_for_user(
                db, rules, user_id, actor="cli", now=SystemClock().now(), dry_run=dry_run
            )
            db.commit()
    typer.echo(
        json.dumps(
            {
                "policy": rules.policy.value,
                "users": total.users,
                "sessions": total.sessions,
                "ended": not dry_run,
            }
        )
    )
