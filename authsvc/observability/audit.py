"""The audit trail: a row per security event and a structured log line, never a secret."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from authsvc.storage.models import AuditEvent

logger = logging.getLogger("authsvc.audit")


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


def record(
    db: Session,
    event: str,
    *,
    now: datetime,
    user_id: str | None = None,
    client: ClientInfo | None = None,
    **detail: Any,
) -> None:
    """Add the event to the caller's transaction (one writer, so SQLite never waits on itself)."""
    client = client or ClientInfo()
    db.add(
        AuditEvent(
            at=now,
            event=event,
            user_id=user_id,
            client_ip=client.ip,
            user_agent=(client.user_agent or "")[:512] or None,
            detail=detail,
        )
    )
    logger.info(
        event,
        extra={"audit_event": event, "user_id": user_id, "client_ip": client.ip, **detail},
    )
