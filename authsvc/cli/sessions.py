"""`authsvc sessions ...`: a user's devices, and the purge of what has served its time."""

from __future__ import annotations

import json

import typer
from pydantic import TypeAdapter

from authsvc.cli.common import UserIdOption, UserName, database, load_settings, user_reference
from authsvc.clock import SystemClock
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
