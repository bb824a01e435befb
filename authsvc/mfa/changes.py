"""What every change of a user's factors does besides itself: audit, and revoke what it must.

A factor change bumps the token version (every access token of the user dies at once, this
device's is re-issued by the caller) and ends the user's other sessions that did not sign in
with a second factor (`aal` below 2): a session opened with the password alone, perhaps by the
intruder the user is locking out, must not outlive the change. Sessions that did show a second
factor keep their refresh token and refresh once. Half-finished logins of the user are void.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from authsvc.mfa import challenges
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services.users import bump_token_version
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User


def factor_changed(
    db: Session,
    user: User,
    event: str,
    *,
    client: ClientInfo,
    now: datetime,
    keep_session: str | None,
    **detail: Any,
) -> int:
    """Audit `event`, end the other sessions below aal 2, bump the version; sessions ended."""
    condition = and_(
        SessionRow.user_id == user.id,
        SessionRow.ended_at.is_(None),
        or_(SessionRow.aal.is_(None), SessionRow.aal < 2),
    )
    if keep_session is not None:
        condition = and_(condition, SessionRow.id != keep_session)
    result = db.execute(
        update(SessionRow)
        .where(condition)
        .values(ended_at=now, end_reason="factor_change", refresh_hash=None)
        .execution_options(synchronize_session=False)
    )
    ended = int(getattr(result, "rowcount", 0) or 0)
    bump_token_version(db, user.id)
    db.expire(user, ["token_version"])
    challenges.forget_all(db, user.id)
    audit.record(db, event, now=now, user_id=user.id, client=client, sessions_ended=ended, **detail)
    return ended
