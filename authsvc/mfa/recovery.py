"""Recovery codes: ten random codes shown once, kept as hashes, each good for one login."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from authsvc.storage.models import RecoveryCode

CODE_COUNT = 10
# 16 base32 characters, 80 random bits: far beyond guessing, so a plain SHA-256 is enough.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_LENGTH = 16


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _LENGTH, 4))


def normalise(code: str) -> str:
    """What the user typed, without separators, spaces or case."""
    return "".join(ch for ch in code.lower() if ch.isalnum())


def digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def looks_like_code(code: str) -> bool:
    plain = normalise(code)
    return len(plain) == _LENGTH and all(ch in _ALPHABET for ch in plain)


def regenerate(db: Session, user_id: str, *, now: datetime) -> list[str]:
    """A new set of codes; the old set (used or not) is gone. Returns the codes in clear, once."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(CODE_COUNT)]
    db.add_all(
        RecoveryCode(user_id=user_id, code_hash=digest(code), created_at=now) for code in codes
    )
    db.flush()
    return codes


def remaining(db: Session, user_id: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def consume(db: Session, user_id: str, code: str, *, now: datetime) -> bool:
    """Use one code: a guarded UPDATE, so two requests with the same code succeed once."""
    if not looks_like_code(code):
        return False
    used = db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(used, "rowcount", 0) == 1)


def forget(db: Session, user_id: str) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
