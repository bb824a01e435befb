"""Deleting what has served its time, so that no table grows without bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from authsvc.storage.models import AuditEvent
from authsvc.storage.models import Session as SessionRow


@dataclass(frozen=True)
class Purged:
    sessions: int
    audit_events: int


def purge(
    db: Session, *, now: datetime, session_retention: timedelta, audit_retention: timedelta
) -> Purged:
    """Sessions ended or expired longer ago than the retention, and old audit events."""
    cutoff = now - session_retention
    sessions = db.execute(
        delete(SessionRow)
        .where(
            or_(
                SessionRow.ended_at < cutoff,
                SessionRow.idle_expires_at < cutoff,
                SessionRow.absolute_expires_at < cutoff,
            )
        )
        .execution_options(synchronize_session=False)
    )
    events = db.execute(
        delete(AuditEvent)
        .where(AuditEvent.at < now - audit_retention)
        .execution_options(synchronize_session=False)
    )
    return Purged(
        sessions=int(getattr(sessions, "rowcount", 0) or 0),
        audit_events=int(getattr(events, "rowcount", 0) or 0),
    )
