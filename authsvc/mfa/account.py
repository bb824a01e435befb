"""A signed-in user's own factors: add and confirm TOTP, remove, new recovery codes; operators'
reset. Every change goes through `factor_changed`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from authsvc.errors import Conflict, InvalidMfaCode, LastSignInMethod, PasskeyRejected
from authsvc.mfa import challenges, factors, passkeys, recovery
from authsvc.mfa.changes import factor_changed
from authsvc.mfa.service import MfaService
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services import throttling
from authsvc.services.authentication import Authenticated
from authsvc.services.sessions import end_sessions
from authsvc.services.users import bump_token_version
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import NO_PASSWORD, LinkedIdentity, MfaFactor, User


@dataclass(frozen=True)
class Status:
    factors: list[MfaFactor]
    recovery_codes_left: int


@dataclass(frozen=True)
class Confirmed:
    factor: MfaFactor
    user: User
    # The first factor comes with the first set of recovery codes, shown once.
    recovery_codes: list[str] | None


def status(db: Session, user_id: str) -> Status:
    return Status(factors.confirmed(db, user_id), recovery.remaining(db, user_id))


def begin_totp(
    mfa: MfaService, db: Session, auth: Authenticated, *, name: str, now: datetime
) -> factors.TotpEnrolment:
    """A TOTP secret to add to an app; it counts once a code from it is confirmed."""
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    return factors.begin_totp(
        db,
        mfa.sealer,
        user_id=auth.user.id,
        account=auth.user.username,
        issuer=mfa.rules.totp_issuer,
        name=name,
        now=now,
    )


def confirm_totp(
    mfa: MfaService,
    db: Session,
    auth: Authenticated,
    factor_id: str,
    code: str,
    client: ClientInfo,
    *,
    now: datetime,
) -> Confirmed:
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    user = lock_user(db, auth.user.id)
    assert user is not None  # the token check found the row in this transaction
    pending = factors.pending_totp(db, user.id, factor_id)
    throttling.enforce(db, mfa.throttle, client, now=now, account=user.username)
    step = factors.matching_step(mfa.sealer, pending, code.strip(), now)
    if step is None:
        mfa.throttle.count(now, client=client.ip, account=user.username)
        audit.record(
            db, "mfa_failure", now=now, user_id=user.id, client=client, method="totp_enrolment"
        )
        keep_when_refused(db)
        raise InvalidMfaCode()
    first = not factors.has_factor(db, user.id)
    pending.confirmed_at = now
    factors.claim_step(db, pending, step, now=now)
    codes = recovery.regenerate(db, user.id, now=now) if first else None
    factor_changed(
        db,
        user,
        "mfa_factor_added",
        client=client,
        now=now,
        keep_session=auth.claims.sid,
        kind=pending.kind,
        factor_id=pending.id,
    )
    return Confirmed(factor=pending, user=user, recovery_codes=codes)


def passkey_options(
    mfa: MfaService, db: Session, auth: Authenticated, *, now: datetime
) -> dict[str, Any]:
    """Options to create a passkey, with a stored single-use challenge."""
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    return passkeys.registration_options(
        db, mfa.rules.relying_party, auth.user, now=now, lifetime=mfa.rules.step_lifetime
    )


def add_passkey(
    mfa: MfaService,
    db: Session,
    auth: Authenticated,
    credential: dict[str, Any],
    client: ClientInfo,
    *,
    name: str,
    now: datetime,
) -> Confirmed:
    """Register the passkey the authenticator created; it counts as a second factor at once."""
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    user = lock_user(db, auth.user.id)
    assert user is not None
    first = not factors.has_factor(db, user.id)
    try:
        factor = passkeys.register(
            db, mfa.rules.relying_party, user, credential, name=name, now=now
        )
    except PasskeyRejected:
        # The challenge stays used: an attestation gets one try.
        keep_when_refused(db)
        raise
    codes = recovery.regenerate(db, user.id, now=now) if first else None
    factor_changed(
        db,
        user,
        "mfa_factor_added",
        client=client,
        now=now,
        keep_session=auth.claims.sid,
        kind=factor.kind,
        factor_id=factor.id,
    )
    return Confirmed(factor=factor, user=user, recovery_codes=codes)


def rename(db: Session, auth: Authenticated, factor_id: str, name: str) -> MfaFactor:
    """A factor's name is only a label for its owner: no step-up, nothing revoked."""
    factor = factors.owned(db, auth.user.id, factor_id)
    factor.name = name
    return factor


def remove(
    mfa: MfaService,
    db: Session,
    auth: Authenticated,
    factor_id: str,
    client: ClientInfo,
    *,
    now: datetime,
) -> User:
    """Remove a factor; with the last one go the recovery codes."""
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    user = lock_user(db, auth.user.id)
    assert user is not None
    factor = factors.owned(db, user.id, factor_id)
    kind = factor.kind
    if (
        kind == factors.WEBAUTHN
        and passkeys.count(db, user.id) == 1
        and not _other_way_in(db, user)
    ):
        raise LastSignInMethod()
    db.delete(factor)
    db.flush()
    if not factors.has_factor(db, user.id):
        recovery.forget(db, user.id)
    factor_changed(
        db,
        user,
        "mfa_factor_removed",
        client=client,
        now=now,
        keep_session=auth.claims.sid,
        kind=kind,
        factor_id=factor_id,
    )
    return user


def _other_way_in(db: Session, user: User) -> bool:
    """A password or a linked provider: how an account signs in without its passkeys."""
    if user.password_hash != NO_PASSWORD:
        return True
    return db.scalar(select(LinkedIdentity.id).where(LinkedIdentity.user_id == user.id)) is not None


def regenerate_recovery(
    mfa: MfaService, db: Session, auth: Authenticated, client: ClientInfo, *, now: datetime
) -> tuple[User, list[str]]:
    mfa.require_step_up(db, auth.user.id, auth.claims, now)
    user = lock_user(db, auth.user.id)
    assert user is not None
    if not factors.has_factor(db, user.id):
        raise Conflict("Recovery codes stand in for a second factor; add one first.")
    codes = recovery.regenerate(db, user.id, now=now)
    factor_changed(
        db,
        user,
        "mfa_recovery_codes_regenerated",
        client=client,
        now=now,
        keep_session=auth.claims.sid,
    )
    return user, codes


def reset(
    db: Session, user_id: str, *, client: ClientInfo, now: datetime, actor: str | None
) -> User | None:
    """An operator's reset: every factor and code gone, every session and token of the user ends."""
    user = lock_user(db, user_id)
    if user is None:
        return None
    removed = factors.remove_all(db, user.id)
    recovery.forget(db, user.id)
    challenges.forget_all(db, user.id)
    ended = end_sessions(db, user.id, reason="mfa_reset", now=now)
    bump_token_version(db, user.id)
    db.expire(user, ["token_version"])
    audit.record(
        db,
        "mfa_reset",
        now=now,
        user_id=user.id,
        client=client,
        factors_removed=removed,
        sessions_ended=ended,
        actor=actor,
    )
    return user
