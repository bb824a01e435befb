"""Passkeys (WebAuthn) with py_webauthn: the relying party, challenges, checking ceremonies.

A registration challenge is a row of `mfa_challenges` named by the challenge itself (only its
SHA-256 is kept), bound to the user and their token version, single-use and short-lived. The
challenge of a login's second step is derived from the step cookie's secret instead: it lives
exactly as long as the step, which is itself single-use, and only that browser can answer it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import webauthn
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authsvc.config import Settings
from authsvc.errors import (
    Conflict,
    PasskeyChallengeInvalid,
    PasskeyRejected,
    PasskeySignCountRegressed,
)
from authsvc.mfa import challenges
from authsvc.mfa.factors import WEBAUTHN
from authsvc.storage.models import MfaChallenge, MfaFactor, User

REGISTER = "passkey_add"
# RFC 8176: the key is bound to the authenticator (`hwk`); `user` when it verified the user.
AMR_KEY = "hwk"
AMR_USER = "user"
_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys belong to: the issuer's host name, and the pages' origins."""

    rp_id: str
    name: str
    origins: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingParty:
        served = urlsplit(settings.link_base)
        own = f"{served.scheme}://{served.netloc}".lower()
        origins = dict.fromkeys([*settings.effective_allowed_origins(), own])
        return cls(
            rp_id=served.hostname or "localhost",
            name=settings.mfa_totp_issuer,
            origins=tuple(origins),
        )


@dataclass(frozen=True)
class Asserted:
    """A verified assertion: the factor it used, and whether the user was verified."""

    factor: MfaFactor
    user_verified: bool


def _options(options: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return parsed


def _own_credentials(db: Session, user_id: str) -> list[MfaFactor]:
    return list(
        db.scalars(
            select(MfaFactor).where(
                MfaFactor.user_id == user_id,
                MfaFactor.kind == WEBAUTHN,
                MfaFactor.confirmed_at.is_not(None),
            )
        )
    )


def _descriptor(factor: MfaFactor) -> PublicKeyCredentialDescriptor:
    assert factor.credential_id is not None
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(factor.credential_id))


def registration_options(
    db: Session, rp: RelyingParty, user: User, *, now: datetime, lifetime: timedelta
) -> dict[str, Any]:
    """`publicKey` options for navigator.credentials.create(), their challenge stored."""
    challenge = secrets.token_bytes(32)
    challenges.start(
        db,
        user,
        purpose=REGISTER,
        remember=False,
        user_agent=None,
        now=now,
        lifetime=lifetime,
        token=bytes_to_base64url(challenge),
    )
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=user.id.encode(),
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(f) for f in _own_credentials(db, user.id)],
    )
    return _options(options)


def _challenge_of(client_data_json: bytes) -> bytes:
    try:
        return parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRejected("The passkey's client data cannot be read.") from exc


def _claim_registration(db: Session, user: User, challenge: bytes, *, now: datetime) -> None:
    """The registration challenge must be this user's, unused and in time; it is used up now."""
    token = bytes_to_base64url(challenge)
    row = db.get(MfaChallenge, hashlib.sha256(token.encode()).hexdigest(), populate_existing=True)
    if (
        row is None
        or row.purpose != REGISTER
        or row.user_id != user.id
        or row.used_at is not None
        or row.expires_at <= now
        or row.token_version != user.token_version
    ):
        raise PasskeyChallengeInvalid()
    challenges.consume(db, row, now=now)


def register(
    db: Session,
    rp: RelyingParty,
    user: User,
    credential: dict[str, Any],
    *,
    name: str,
    now: datetime,
) -> MfaFactor:
    """Check the authenticator's attestation for a stored challenge; the new passkey factor."""
    try:
        parsed: RegistrationCredential = parse_registration_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRejected("The passkey's registration cannot be read.") from exc
    challenge = _challenge_of(parsed.response.client_data_json)
    _claim_registration(db, user, challenge, now=now)
    try:
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
        )
    except WebAuthnException as exc:
        raise PasskeyRejected(f"The passkey's registration does not verify: {exc}") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.scalar(select(MfaFactor.id).where(MfaFactor.credential_id == credential_id)):
        raise Conflict("This passkey is already registered.")
    extensions = credential.get("clientExtensionResults")
    cred_props = extensions.get("credProps") if isinstance(extensions, dict) else None
    discoverable = isinstance(cred_props, dict) and cred_props.get("rk") is True
    transports = [t.value for t in parsed.response.transports or []]
    factor = MfaFactor(
        id=str(uuid.uuid4()),
        user_id=user.id,
        kind=WEBAUTHN,
        name=name,
        confirmed_at=now,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        discoverable=discoverable,
        created_at=now,
    )
    db.add(factor)
    db.flush()
    return factor


def step_challenge(step_token: str) -> bytes:
    """The assertion challenge of a login's second step: only the step cookie's holder has it."""
    return hmac.new(step_token.encode(), b"authsvc webauthn second step", "sha256").digest()


def assertion_options(
    db: Session, rp: RelyingParty, user_id: str | None, challenge: bytes
) -> dict[str, Any]:
    """`publicKey` options for navigator.credentials.get(): with the user's passkeys, or, for a
    passwordless sign-in (no user yet), any discoverable one, the user verified."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        allow_credentials=(
            [_descriptor(f) for f in _own_credentials(db, user_id)] if user_id is not None else []
        ),
        user_verification=(
            UserVerificationRequirement.PREFERRED
            if user_id is not None
            else UserVerificationRequirement.REQUIRED
        ),
    )
    return _options(options)


def parse_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        parsed: AuthenticationCredential = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRejected("The passkey's answer cannot be read.") from exc
    return parsed


def challenge_of(parsed: AuthenticationCredential) -> bytes:
    """The challenge the client says it answered (verified later against the stored one)."""
    return _challenge_of(parsed.response.client_data_json)


def owner_of(db: Session, parsed: AuthenticationCredential) -> str | None:
    """Whose passkey this is, by its credential id."""
    return db.scalar(
        select(MfaFactor.user_id).where(
            MfaFactor.credential_id == bytes_to_base64url(parsed.raw_id),
            MfaFactor.kind == WEBAUTHN,
            MfaFactor.confirmed_at.is_not(None),
        )
    )


def count(db: Session, user_id: str) -> int:
    """How many passkeys the user has: each one is a way to sign in without a password."""
    return len(_own_credentials(db, user_id))


def verify_assertion(
    db: Session,
    rp: RelyingParty,
    user_id: str,
    credential: dict[str, Any],
    challenge: bytes,
    *,
    now: datetime,
    require_user_verification: bool = False,
) -> Asserted:
    """Check an assertion by one of the user's passkeys; its counter moves forward."""
    parsed = parse_assertion(credential)
    if not hmac.compare_digest(_challenge_of(parsed.response.client_data_json), challenge):
        raise PasskeyChallengeInvalid()
    factor = db.scalars(
        select(MfaFactor)
        .where(
            MfaFactor.credential_id == bytes_to_base64url(parsed.raw_id),
            MfaFactor.user_id == user_id,
            MfaFactor.kind == WEBAUTHN,
            MfaFactor.confirmed_at.is_not(None),
        )
        .execution_options(populate_existing=True)
    ).first()
    if factor is None or factor.public_key is None:
        raise PasskeyRejected("This passkey is not registered to the account.")
    try:
        counter = parse_authenticator_data(parsed.response.authenticator_data).sign_count
    except (WebAuthnException, ValueError, IndexError) as exc:
        raise PasskeyRejected("The passkey's authenticator data cannot be read.") from exc
    stored = factor.sign_count
    # Counters that are used must grow; one that does not means a second copy of the key.
    if (counter > 0 or stored > 0) and counter <= stored:
        raise PasskeySignCountRegressed()
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=factor.public_key,
            credential_current_sign_count=stored,
            require_user_verification=require_user_verification,
        )
    except WebAuthnException as exc:
        raise PasskeyRejected(f"The passkey's answer does not verify: {exc}") from exc
    # Compare-and-set: of two racing assertions with one counter value, one wins.
    result = db.execute(
        update(MfaFactor)
        .where(MfaFactor.id == factor.id, MfaFactor.sign_count == stored)
        .values(sign_count=verified.new_sign_count, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise PasskeySignCountRegressed()
    return Asserted(factor=factor, user_verified=verified.user_verified)


def amr(asserted: Asserted) -> tuple[str, ...]:
    """What an assertion adds to `amr`."""
    return (AMR_KEY, AMR_USER) if asserted.user_verified else (AMR_KEY,)
