"""Signing-key lifecycle: rotate, activate, retire, revoke, re-encrypt; none of them commits.

Every transition is a guarded UPDATE (`... WHERE state = <expected>`) backed by the partial
unique indexes (one active key, one pending key), so when instances race on one database
exactly one of them wins; a loser sees `RaceLost` or an IntegrityError and rolls back. Every
transition is announced in its transaction, so every instance reloads its ring when it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authsvc.config import KEY_TIMING_MARGIN_SECONDS, Settings
from authsvc.errors import Conflict, KeyDecryptionError, NotFound, RaceLost
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.material import KeyState, active_key, new_signing_key
from authsvc.observability import audit
from authsvc.revocation.publish import announce_key_change
from authsvc.storage.models import SigningKey


@dataclass(frozen=True)
class RotationPolicy:
    """The rotation timeline, derived from the settings (see docs/keys.md)."""

    algorithm: str
    # From publication to first signature: downstream JWKS caches learn the key meanwhile.
    publish_ahead: timedelta
    # From activation of the successor to leaving the JWKS: every token it signed has expired.
    retire_delay: timedelta
    rotate_every: timedelta | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RotationPolicy:
        # Other instances may sign with the old key until their next refresh, and verifiers
        # accept a token until exp + leeway; the margin absorbs clock skew.
        retire_delay = (
            settings.key_refresh_seconds
            + settings.access_token_ttl_seconds
            + settings.clock_leeway_seconds
            + KEY_TIMING_MARGIN_SECONDS
        )
        days = settings.key_rotation_days
        return cls(
            algorithm=settings.signing_algorithm.value,
            publish_ahead=timedelta(seconds=settings.key_publish_ahead),
            retire_delay=timedelta(seconds=retire_delay),
            rotate_every=timedelta(days=days) if days else None,
        )


def list_keys(db: Session) -> list[SigningKey]:
    return list(db.scalars(select(SigningKey).order_by(SigningKey.created_at)).all())


def pending_key(db: Session) -> SigningKey | None:
    return db.scalars(select(SigningKey).where(SigningKey.state == KeyState.pending)).first()


def rotate(
    db: Session,
    encryptor: KeyEncryptor,
    policy: RotationPolicy,
    *,
    now: datetime,
    alg: str | None = None,
    immediately: bool = False,
    reason: str = "manual",
) -> SigningKey:
    """Add the next key: pending until publish-ahead has passed, or active at once."""
    pending = pending_key(db)
    if pending is not None:
        raise Conflict(
            f"a rotation is already under way: key {pending.kid} becomes active at "
            f"{pending.activate_at:%Y-%m-%d %H:%M:%S} UTC (`authsvc keys revoke {pending.kid}` "
            "cancels it)"
        )
    algorithm = alg or policy.algorithm
    if immediately:
        current = active_key(db)
        if current is not None:
            _demote(db, current.kid, policy, now)
        key = new_signing_key(algorithm, encryptor, state=KeyState.active, now=now)
    else:
        key = new_signing_key(
            algorithm,
            encryptor,
            state=KeyState.pending,
            now=now,
            activate_at=now + policy.publish_ahead,
        )
    db.add(key)
    try:
        db.flush()
    except IntegrityError as exc:
        raise RaceLost() from exc
    announce_key_change(db, key.kid, key.state)
    audit.record(
        db, "key_rotated", now=now, kid=key.kid, alg=algorithm, state=key.state, reason=reason
    )
    return key


def rotate_if_due(
    db: Session, encryptor: KeyEncryptor, policy: RotationPolicy, *, now: datetime
) -> SigningKey | None:
    """Scheduled rotation: start one when the active key is older than the rotation period."""
    if policy.rotate_every is None or pending_key(db) is not None:
        return None
    current = active_key(db)
    if current is None:
        return None
    since = current.activated_at or current.created_at
    if now - since < policy.rotate_every:
        return None
    return rotate(db, encryptor, policy, now=now, reason="scheduled")


def activate_due(db: Session, policy: RotationPolicy, *, now: datetime) -> SigningKey | None:
    """Promote the pending key whose time has come; the active one starts retiring."""
    pending = pending_key(db)
    if pending is None or pending.activate_at is None or pending.activate_at > now:
        return None
    current = active_key(db)
    if current is not None:
        _demote(db, current.kid, policy, now)
    promoted = db.execute(
        update(SigningKey)
        .where(SigningKey.kid == pending.kid, SigningKey.state == KeyState.pending)
        .values(state=KeyState.active.value, activated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if promoted != 1:
        raise RaceLost()
    announce_key_change(db, pending.kid, KeyState.active.value)
    audit.record(db, "key_activated", now=now, kid=pending.kid)
    return pending


def retire_due(db: Session, *, now: datetime) -> list[str]:
    """Withdraw retiring keys whose every token has expired."""
    kids = list(
        db.scalars(
            select(SigningKey.kid).where(
                SigningKey.state == KeyState.retiring, SigningKey.retire_after <= now
            )
        ).all()
    )
    retired = []
    for kid in kids:
        if _withdraw(db, kid, KeyState.retiring, KeyState.retired, now):
            retired.append(kid)
            audit.record(db, "key_retired", now=now, kid=kid)
    return retired


@dataclass(frozen=True)
class Revocation:
    revoked: SigningKey
    successor: SigningKey | None


def revoke(
    db: Session, encryptor: KeyEncryptor, policy: RotationPolicy, kid: str, *, now: datetime
) -> Revocation:
    """Withdraw a key at once; when it was signing, a successor takes over immediately."""
    key = db.get(SigningKey, kid)
    if key is None:
        raise NotFound(f"no signing key with kid {kid!r}")
    if key.state == KeyState.revoked:
        return Revocation(revoked=key, successor=None)
    was_active = key.state == KeyState.active
    if not _withdraw(db, kid, KeyState(key.state), KeyState.revoked, now):
        raise RaceLost()
    successor = None
    if was_active:
        # The pending key is already published, so it is the best stand-in; otherwise a new
        # key signs at once (downstream caches refetch on its unknown kid).
        successor = pending_key(db)
        if successor is not None:
            db.execute(
                update(SigningKey)
                .where(SigningKey.kid == successor.kid, SigningKey.state == KeyState.pending)
                .values(state=KeyState.active.value, activated_at=now)
            )
        else:
            successor = new_signing_key(policy.algorithm, encryptor, state=KeyState.active, now=now)
            db.add(successor)
        db.flush()
        announce_key_change(db, successor.kid, KeyState.active.value)
    audit.record(
        db,
        "key_revoked",
        now=now,
        kid=kid,
        successor=successor.kid if successor is not None else None,
    )
    db.expire(key)
    return Revocation(revoked=key, successor=successor)


@dataclass(frozen=True)
class Reencryption:
    reencrypted: int
    already_new: int


def reencrypt(db: Session, old: KeyEncryptor, new: KeyEncryptor, *, now: datetime) -> Reencryption:
    """Re-encrypt every stored private key under a new secret; all of them or none."""
    reencrypted = already_new = 0
    for key in list_keys(db):
        if not key.private_key_encrypted:
            continue  # retired or revoked: nothing secret left to protect
        try:
            pem = old.decrypt(key.kid, key.private_key_encrypted)
        except KeyDecryptionError:
            # A re-run after a partial roll-out: fine if the new secret already opens it.
            new.decrypt(key.kid, key.private_key_encrypted)
            already_new += 1
            continue
        key.private_key_encrypted = new.encrypt(key.kid, pem)
        reencrypted += 1
    db.flush()
    audit.record(db, "keys_reencrypted", now=now, count=reencrypted)
    return Reencryption(reencrypted=reencrypted, already_new=already_new)


def _demote(db: Session, kid: str, policy: RotationPolicy, now: datetime) -> None:
    demoted = db.execute(
        update(SigningKey)
        .where(SigningKey.kid == kid, SigningKey.state == KeyState.active)
        .values(state=KeyState.retiring.value, retire_after=now + policy.retire_delay)
    ).rowcount  # type: ignore[attr-defined]
    if demoted != 1:
        raise RaceLost()
    announce_key_change(db, kid, KeyState.retiring.value)


def _withdraw(db: Session, kid: str, expected: KeyState, to: KeyState, now: datetime) -> bool:
    """Move a key out of the JWKS and destroy its private part; False if someone else did."""
    stamp = {"retired_at": now} if to is KeyState.retired else {"revoked_at": now}
    changed: int = db.execute(
        update(SigningKey)
        .where(SigningKey.kid == kid, SigningKey.state == expected)
        .values(state=to.value, private_key_encrypted=b"", **stamp)
    ).rowcount  # type: ignore[attr-defined]
    if changed == 1:
        announce_key_change(db, kid, to.value)
    return changed == 1


def ensure_active_key(db: Session, encryptor: KeyEncryptor, alg: str, now: datetime) -> bool:
    """Create an active key when there is none; True when this call created it.

    Commits, because it is its own unit of work (start-up or the CLI); when several instances
    race, the one-active-key index lets exactly one win and the others simply find its key.
    """
    if active_key(db) is not None:
        return False
    key = new_signing_key(alg, encryptor, state=KeyState.active, now=now)
    db.add(key)
    audit.record(db, "key_created", now=now, kid=key.kid, alg=alg, state=key.state)
    try:
        # The announcement's query flushes the insert, so a lost race can surface here too.
        announce_key_change(db, key.kid, KeyState.active.value)
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True
