"""Refusing a throttled request: 429 before any work, audited now and then, never per request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from authsvc.errors import TooManyAttempts
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.storage.engine import keep_when_refused
from authsvc.throttle.endpoint import Throttle


def enforce(
    db: Session,
    throttle: Throttle,
    client: ClientInfo,
    *,
    now: datetime,
    account: str | None = None,
) -> None:
    """Raise TooManyAttempts when the throttle says so, before the caller hashes anything.

    The refusal is audited (`<endpoint>_throttled`) the 1st, 10th, 100th... time this hour
    for this client, with that count: a flood of refused requests writes a handful of rows.
    """
    try:
        throttle.check(now, client=client.ip, account=account)
    except TooManyAttempts:
        refused = throttle.refused(now, client=client.ip)
        if refused is not None:
            audit.record(
                db,
                f"{throttle.name}_throttled",
                now=now,
                client=client,
                refused_this_hour=refused,
            )
            keep_when_refused(db)
        raise


def refuses(
    throttle: Throttle, client: ClientInfo, *, now: datetime, account: str | None = None
) -> bool:
    """Whether `enforce` would refuse this request now; asked without counting or auditing."""
    try:
        throttle.check(now, client=client.ip, account=account)
    except TooManyAttempts:
        return True
    return False
