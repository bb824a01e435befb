"""Deleting what has served its time, so that no table grows without bound.

Every instance may run the periodic purge (AUTHSVC_PURGE_INTERVAL_SECONDS): deletes are
idempotent, so instances racing on one database do no harm.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.services import account_tokens
from authsvc.storage.models import AuditEvent
from authsvc.storage.models import Session as SessionRow

logger = logging.getLogger("authsvc")


@dataclass(frozen=True)
class Retention:
    """How long ended sessions and audit events are kept before they are deleted."""

    sessions: timedelta
    audit_events: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        # An ended session's row refuses its access tokens until they expire (and instances
        # load the recent ones at start), so it outlives them whatever the setting says.
        tokens = settings.access_token_ttl_seconds + 2 * settings.clock_leeway_seconds
        return cls(
            sessions=timedelta(seconds=max(settings.session_retention_seconds, tokens)),
            audit_events=timedelta(days=settings.audit_retention_days),
        )


@dataclass(frozen=True)
class Purged:
    sessions: int
    audit_events: int
    link_tokens: int = 0


def purge(db: Session, retention: Retention, *, now: datetime) -> Purged:
    """Sessions ended or expired longer ago than the retention, old audit events, and mailed link
    tokens expired as long ago (used or not, they open nothing any more)."""
    cutoff = now - retention.sessions
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
        .where(AuditEvent.at < now - retention.audit_events)
        .execution_options(synchronize_session=False)
    )
    return Purged(
        sessions=int(getattr(sessions, "rowcount", 0) or 0),
        audit_events=int(getattr(events, "rowcount", 0) or 0),
        link_tokens=account_tokens.purge_expired(db, before=cutoff),
    )


def purge_once(
    session_factory: sessionmaker[Session], retention: Retention, clock: Clock
) -> Purged:
    """One purge in its own transaction."""
    with session_factory() as db:
        purged = purge(db, retention, now=clock.now())
        db.commit()
    if purged.sessions or purged.audit_events:
        logger.info("purged %d sessions and %d audit events", purged.sessions, purged.audit_events)
    return purged


@dataclass(frozen=True)
class PeriodicPurge:
    """The purge every `interval`, in the background of a running service."""

    session_factory: sessionmaker[Session]
    retention: Retention
    clock: Clock
    interval: timedelta

    async def start(self) -> asyncio.Task[None]:
        """Purge once now (so a restart catches up), then every interval."""
        await self._purge_safely()
        return asyncio.create_task(self._loop(), name="authsvc-purge")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval.total_seconds())
            await self._purge_safely()

    async def _purge_safely(self) -> None:
        try:
            await run_in_threadpool(purge_once, self.session_factory, self.retention, self.clock)
        except DBAPIError as exc:
            # A database hiccup must not stop the loop or the service; the next round retries.
            logger.warning("purge failed: %s", type(exc.orig).__name__)
