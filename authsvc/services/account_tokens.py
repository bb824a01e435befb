"""Single-use tokens sent by mail (password reset, email verification), kept only as a hash.

They have the shape of refresh tokens (256 random bits, base64url) and are stored the same way,
as a SHA-256 hash: a database reader learns nothing that opens an account. Each is bound to one
purpose and to the address it was sent to, and dies when used, when it expires, when a newer
one of the same purpose is issued, or when the user's password or address changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from authsvc.errors import InvalidLinkToken
from authsvc.storage.locking import lock_user
from authsvc.storage.models import AccountToken, User
from authsvc.tokens.refresh import hash_refresh_token, new_refresh_token, well_formed


class Purpose(StrEnum):
    password_reset = "password_reset"
    email_verification = "email_verification"


@dataclass(frozen=True)
class Redeemed:
    user: User
    # The address the link went to, as a lookup key.
    email_key: str


def issue(db: Session, user: User, purpose: Purpose, *, ttl: timedelta, now: datetime) -> str:
    """A new token for the user's current address; every older one of this purpose dies."""
    if user.email_key is None:
        raise ValueError("a link token needs an address to be sent to")
    discard(db, user.id, purpose)
    token = new_refresh_token()
    db.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=token.hash,
            email_key=user.email_key,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token.token


def redeem(db: Session, token: str, purpose: Purpose, *, now: datetime) -> Redeemed:
    """Use the token up; an unknown, used, expired or stale one is one and the same refusal.

    The user's row is locked first (the order every change of an account takes), then one
    conditional UPDATE claims the token, so of two requests racing with one token exactly one
    wins, and the account is checked as it is while the token is used.
    """
    if not well_formed(token):
        raise InvalidLinkToken()
    token_hash = hash_refresh_token(token)
    owner = db.scalars(
        select(AccountToken.user_id).where(
            AccountToken.token_hash == token_hash, AccountToken.purpose == purpose.value
        )
    ).first()
    user = lock_user(db, owner) if owner is not None else None
    if user is None:
        raise InvalidLinkToken()
    claimed = db.execute(
        update(AccountToken)
        .where(
            AccountToken.token_hash == token_hash,
            AccountToken.purpose == purpose.value,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(AccountToken.email_key)
        .execution_options(synchronize_session=False)
    ).first()
    # The address changed since the link was sent, or the account was disabled: a dead link.
    if claimed is None or user.disabled or user.email_key != claimed.email_key:
        raise InvalidLinkToken()
    return Redeemed(user=user, email_key=claimed.email_key)


def peek(db: Session, token: str, purpose: Purpose, *, now: datetime) -> User | None:
    """The user `redeem` would give for this token now, without using it up; None for a dead one.

    For the pages a mailed link opens: they say at once that a link is dead, and a mail scanner
    that follows the link changes nothing.
    """
    if not well_formed(token):
        return None
    row = db.scalars(
        select(AccountToken).where(
            AccountToken.token_hash == hash_refresh_token(token),
            AccountToken.purpose == purpose.value,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
    ).first()
    if row is None:
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled or user.email_key != row.email_key:
        return None
    return user


def discard(db: Session, user_id: str, purpose: Purpose | None = None) -> None:
    """Every unused token of the user (of one purpose, or all): their links stop working."""
    condition = (AccountToken.user_id == user_id) & AccountToken.used_at.is_(None)
    if purpose is not None:
        condition &= AccountToken.purpose == purpose.value
    db.execute(delete(AccountToken).where(condition).execution_options(synchronize_session=False))


def purge_expired(db: Session, *, before: datetime) -> int:
    """Tokens that expired before `before`, used or not; how many went."""
    result = db.execute(
        delete(AccountToken)
        .where(AccountToken.expires_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
