"""Signing in with a passkey alone: a discoverable credential, the user verified by it.

The challenge is stored before anyone is known (an `mfa_challenges` row without a user, named
by the challenge's hash), bound to the browser's User-Agent digest, single-use, short-lived.
A passkey that verified its user is two factors at once (something held, and a PIN or a
biometric that unlocked it), so the session gets `amr` ["hwk", "user"] and `aal` 2.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import AuthenticationCredential

from authsvc.errors import (
    EmailNotVerified,
    InvalidCredentials,
    PasskeyChallengeInvalid,
    PasskeyRejected,
)
from authsvc.mfa import challenges, passkeys
from authsvc.mfa.service import MfaService
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services import throttling
from authsvc.services.login import LoginResult
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import MfaChallenge, User
from authsvc.throttle.endpoint import Throttle

SIGN_IN = "passkey_login"
AMR = (passkeys.AMR_KEY, passkeys.AMR_USER)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def options(
    mfa: MfaService, db: Session, throttle: Throttle, client: ClientInfo, *, now: datetime
) -> dict[str, Any]:
    """Options for navigator.credentials.get() without a user; the challenge is stored.

    Every request counts against the address's throttle, checked before any row is written.
    """
    throttling.enforce(db, throttle, client, now=now)
    throttle.count(now, client=client.ip)
    lifetime = mfa.rules.step_lifetime
    challenge = secrets.token_bytes(32)
    db.add(
        MfaChallenge(
            id_hash=_digest(bytes_to_base64url(challenge)),
            user_id=None,
            purpose=SIGN_IN,
            first_factor="",
            token_version=0,
            password_fingerprint="",
            browser=challenges.browser_digest(client.user_agent),
            remember=False,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Nobody is signed in here, so old challenges are purged as new ones are made.
    db.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now - lifetime))
    return passkeys.assertion_options(db, mfa.rules.relying_party, None, challenge)


def _claim(db: Session, challenge: bytes, client: ClientInfo, *, now: datetime) -> None:
    row = db.get(MfaChallenge, _digest(bytes_to_base64url(challenge)), populate_existing=True)
    if (
        row is None
        or row.purpose != SIGN_IN
        or row.used_at is not None
        or row.expires_at <= now
        or not secrets.compare_digest(row.browser, challenges.browser_digest(client.user_agent))
    ):
        raise PasskeyChallengeInvalid()
    challenges.consume(db, row, now=now)


def _owner(db: Session, parsed: AuthenticationCredential) -> User:
    """The passkey's account, locked; refused when it is unknown, disabled or not the handle's."""
    owner = passkeys.owner_of(db, parsed)
    if owner is None:
        raise PasskeyRejected("This passkey is not registered to any account.")
    user = lock_user(db, owner)
    if user is None or user.disabled:
        raise InvalidCredentials()
    handle = parsed.response.user_handle
    if handle and not secrets.compare_digest(handle, user.id.encode()):
        raise PasskeyRejected("The passkey names another account.")
    return user


def sign_in(
    mfa: MfaService,
    db: Session,
    credential: dict[str, Any],
    client: ClientInfo,
    *,
    remember: bool,
    now: datetime,
    replaces_session: str | None = None,
) -> LoginResult:
    """Check the assertion under the owner's lock, then open a session at level 2."""
    parsed = passkeys.parse_assertion(credential)
    challenge = passkeys.challenge_of(parsed)
    _claim(db, challenge, client, now=now)
    try:
        user = _owner(db, parsed)
        passkeys.verify_assertion(
            db,
            mfa.rules.relying_party,
            user.id,
            credential,
            challenge,
            now=now,
            require_user_verification=True,
        )
        # The same rule as the password login, checked once the passkey proved its holder.
        mfa.login.refuse_unverified_email(db, user, client, now=now)
    except (PasskeyRejected, InvalidCredentials, EmailNotVerified):
        # The challenge stays used: an assertion gets one try.
        keep_when_refused(db)
        raise
    audit.record(db, "mfa_success", now=now, user_id=user.id, client=client, method="passkey")
    return mfa.login.complete(
        db, user, remember, client, now=now, amr=AMR, aal=2, replaces_session=replaces_session
    )
