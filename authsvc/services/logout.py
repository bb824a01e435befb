"""Logging out: end this session, or with `everywhere` every token of the user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.revocation.publish import announce_session_end
from authsvc.services.authentication import Authenticated
from authsvc.services.users import bump_token_version
from authsvc.storage.models import Session as SessionRow
from authsvc.tokens.refresh import hash_refresh_token, well_formed


def logout(
    db: Session,
    authenticated: Authenticated | None,
    refresh_token: str | None,
    client: ClientInfo,
    *,
    everywhere: bool,
    now: datetime,
) -> bool:
    """End this session (and with `everywhere`, every token of the user); a no-op when anonymous.

    The session is found from the access token, or from the refresh cookie when the access
    token has already expired. Returns whether anybody was logged out.
    """
    if authenticated is not None:
        user_id, session_id = authenticated.user.id, authenticated.claims.sid
    else:
        found = _session_by_refresh_token(db, refresh_token)
        if found is None:
            return False
        user_id, session_id = found.user_id, found.id
    if everywhere:
        bump_token_version(db, user_id)
        ended = SessionRow.user_id == user_id
    else:
        ended = SessionRow.id == session_id
    result = db.execute(
        update(SessionRow)
        .where(ended, SessionRow.ended_at.is_(None))
        .values(ended_at=now, end_reason="logout", refresh_hash=None)
    )
    if not everywhere and int(getattr(result, "rowcount", 0) or 0):
        # Without a bump, only this announcement refuses the session's copied access tokens.
        announce_session_end(db, session_id)
    audit.record(
        db,
        "logout_everywhere" if everywhere else "logout",
        now=now,
        user_id=user_id,
        client=client,
        session_id=session_id,
    )
    return True


def _session_by_refresh_token(db: Session, token: str | None) -> SessionRow | None:
    if token is None or not well_formed(token):
        return None
    return db.scalars(
        select(SessionRow).where(
            SessionRow.refresh_hash == hash_refresh_token(token), SessionRow.ended_at.is_(None)
        )
    ).first()
