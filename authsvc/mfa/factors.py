"""The user's factors in the database: TOTP enrolment, confirmation and use, listing, removal."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from authsvc.errors import KeyDecryptionError, MfaCodeReused, NotFound
from authsvc.mfa import totp
from authsvc.mfa.sealing import SecretSealer
from authsvc.storage.models import MfaFactor

TOTP = "totp"
WEBAUTHN = "webauthn"
NAME_MAX_LENGTH = 64


def clean_name(name: str) -> str:
    """A factor's name as it is stored: trimmed, 1 to 64 characters, no control characters
    (it is shown on the account page and in security notices, a line each).

    Raises ValueError, which the API reports as 400 invalid_request.
    """
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= NAME_MAX_LENGTH:
        raise ValueError(f"a name needs 1 to {NAME_MAX_LENGTH} characters besides spaces")
    if any(unicodedata.category(character) in {"Cc", "Zl", "Zp"} for character in trimmed):
        raise ValueError("a name cannot hold line breaks or control characters")
    return trimmed


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user needs to add the factor to an app: shown once, at enrolment."""

    factor: MfaFactor
    secret: str
    uri: str
    qr_svg: str


def confirmed(db: Session, user_id: str) -> list[MfaFactor]:
    return list(
        db.scalars(
            select(MfaFactor)
            .where(MfaFactor.user_id == user_id, MfaFactor.confirmed_at.is_not(None))
            .order_by(MfaFactor.created_at, MfaFactor.id)
        )
    )


def has_factor(db: Session, user_id: str) -> bool:
    found = db.scalar(
        select(MfaFactor.id)
        .where(MfaFactor.user_id == user_id, MfaFactor.confirmed_at.is_not(None))
        .limit(1)
    )
    return found is not None


def kinds(factors: list[MfaFactor]) -> list[str]:
    """The kinds of second step a login may use, as POST /login announces them."""
    found = sorted({factor.kind for factor in factors})
    return [*found, "recovery_code"] if found else []


def begin_totp(
    db: Session,
    sealer: SecretSealer,
    *,
    user_id: str,
    account: str,
    issuer: str,
    name: str,
    now: datetime,
) -> TotpEnrolment:
    """An unconfirmed TOTP factor; an earlier unconfirmed one of the user is dropped."""
    db.execute(
        delete(MfaFactor).where(
            MfaFactor.user_id == user_id,
            MfaFactor.kind == TOTP,
            MfaFactor.confirmed_at.is_(None),
        )
    )
    secret = totp.new_secret()
    factor_id = str(uuid.uuid4())
    factor = MfaFactor(
        id=factor_id,
        user_id=user_id,
        kind=TOTP,
        name=name,
        secret_encrypted=sealer.seal(factor_id, secret),
        created_at=now,
    )
    db.add(factor)
    db.flush()
    uri = totp.provisioning_uri(secret, account=account, issuer=issuer)
    return TotpEnrolment(factor=factor, secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


def pending_totp(db: Session, user_id: str, factor_id: str) -> MfaFactor:
    factor = db.get(MfaFactor, factor_id, populate_existing=True)
    if (
        factor is None
        or factor.user_id != user_id
        or factor.kind != TOTP
        or factor.confirmed_at is not None
    ):
        raise NotFound("No TOTP enrolment of yours is waiting with this id; start again.")
    return factor


def pending_of(db: Session, user_id: str) -> MfaFactor | None:
    """The user's TOTP enrolment waiting for its first code, if any."""
    return db.scalars(
        select(MfaFactor).where(
            MfaFactor.user_id == user_id,
            MfaFactor.kind == TOTP,
            MfaFactor.confirmed_at.is_(None),
        )
    ).first()


def matching_step(sealer: SecretSealer, factor: MfaFactor, code: str, now: datetime) -> int | None:
    if factor.secret_encrypted is None:
        return None
    return totp.matching_step(sealer.open(factor.id, factor.secret_encrypted), code, now)


def claim_step(db: Session, factor: MfaFactor, step: int, *, now: datetime) -> None:
    """Record the step as used: compare-and-set, so a code (or an earlier one) works only once."""
    result = db.execute(
        update(MfaFactor)
        .where(
            MfaFactor.id == factor.id,
            or_(MfaFactor.last_used_step.is_(None), MfaFactor.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise MfaCodeReused()


def use_totp(
    db: Session, sealer: SecretSealer, user_id: str, code: str, *, now: datetime
) -> MfaFactor | None:
    """The confirmed TOTP factor this code belongs to, its step now used; None for no match."""
    for factor in confirmed(db, user_id):
        if factor.kind != TOTP:
            continue
        step = matching_step(sealer, factor, code, now)
        if step is not None:
            claim_step(db, factor, step, now=now)
            return factor
    return None


def owned(db: Session, user_id: str, factor_id: str) -> MfaFactor:
    factor = db.get(MfaFactor, factor_id)
    if factor is None or factor.user_id != user_id or factor.confirmed_at is None:
        raise NotFound("No factor of yours has this id.")
    return factor


def remove_all(db: Session, user_id: str) -> int:
    result = db.execute(delete(MfaFactor).where(MfaFactor.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def reseal_all(db: Session, old: SecretSealer, new: SecretSealer) -> int:
    """Move every TOTP secret to a new key-encryption secret; those already moved stay."""
    moved = 0
    for factor in db.scalars(select(MfaFactor).where(MfaFactor.secret_encrypted.is_not(None))):
        assert factor.secret_encrypted is not None
        try:
            secret = old.open(factor.id, factor.secret_encrypted)
        except KeyDecryptionError:
            # Moved by an earlier run that stopped half-way: the new secret opens it (or fails).
            new.open(factor.id, factor.secret_encrypted)
            continue
        factor.secret_encrypted = new.seal(factor.id, secret)
        moved += 1
    return moved
