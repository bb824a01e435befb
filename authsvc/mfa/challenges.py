"""The step cookie's server side: a login half-way, kept as a hash, single-use, short-lived."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from authsvc.errors import (
    MfaStepExpired,
    MfaStepInvalid,
    MfaStepOtherBrowser,
    MfaStepStale,
    MfaStepUsed,
)
from authsvc.storage.models import MfaChallenge, User

_MAX_TOKEN_CHARS = 64
# The purposes of a login's second step; the table's other rows are passkey challenges.
STEPS = ("login", "enrol")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_digest(user_agent: str | None) -> str:
    """What binds a step to the browser that did the password step (beside the cookie)."""
    return _digest(user_agent or "")


def password_fingerprint(password_hash: str) -> str:
    """Tells whether the password changed, without copying its hash anywhere."""
    return _digest(password_hash)


def start(
    db: Session,
    user: User,
    *,
    purpose: str,
    remember: bool,
    user_agent: str | None,
    now: datetime,
    lifetime: timedelta,
    token: str | None = None,
    first_factor: str = "pwd",
) -> str:
    """A new step for this user's login; the token in clear goes only into the cookie.

    `token` is given for a passkey challenge: the WebAuthn challenge itself names the row.
    """
    token = token or secrets.token_urlsafe(32)
    db.add(
        MfaChallenge(
            id_hash=_digest(token),
            user_id=user.id,
            purpose=purpose,
            first_factor=first_factor,
            token_version=user.token_version,
            password_fingerprint=password_fingerprint(user.password_hash),
            browser=browser_digest(user_agent),
            remember=remember,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Old steps are only clutter; the purge of expired ones happens as users log in.
    db.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now - lifetime))
    return token


def find(db: Session, token: str | None, user_agent: str | None, *, now: datetime) -> MfaChallenge:
    """The live step this cookie names, or the error that says why there is none."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        raise MfaStepInvalid()
    challenge = db.scalars(
        select(MfaChallenge)
        .where(MfaChallenge.id_hash == _digest(token))
        .execution_options(populate_existing=True)
    ).first()
    if challenge is None or challenge.user_id is None or challenge.purpose not in STEPS:
        # A passkey challenge is public (its options show it): it never stands for a step.
        raise MfaStepInvalid()
    if challenge.used_at is not None:
        raise MfaStepUsed()
    if challenge.expires_at <= now:
        raise MfaStepExpired()
    if not secrets.compare_digest(challenge.browser, browser_digest(user_agent)):
        # A copied cookie: burn the step, so the copy is worth nothing to anyone either.
        burn(db, challenge, now=now)
        raise MfaStepOtherBrowser()
    return challenge


def check_still_valid(challenge: MfaChallenge, user: User | None) -> User:
    """Under the user's lock: what the password step read must still hold."""
    if (
        user is None
        or user.disabled
        or user.token_version != challenge.token_version
        or not secrets.compare_digest(
            challenge.password_fingerprint, password_fingerprint(user.password_hash)
        )
    ):
        raise MfaStepStale()
    return user


def consume(db: Session, challenge: MfaChallenge, *, now: datetime) -> None:
    """Mark the step used; a guarded UPDATE, so of two racing completions one wins."""
    result = db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id_hash == challenge.id_hash, MfaChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise MfaStepUsed()


def burn(db: Session, challenge: MfaChallenge, *, now: datetime) -> None:
    db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id_hash == challenge.id_hash, MfaChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def forget_all(db: Session, user_id: str) -> None:
    """Every half-finished login of the user is void (a factor reset, an operator's revoke)."""
    db.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user_id))
