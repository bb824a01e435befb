"""ORM tables: users, their sessions, refresh-token families and link tokens, second factors,
signing keys and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The password hash of an account made at a provider: no password hashes to it.
NO_PASSWORD = "!"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and hands back aware UTC, so SQLite and PostgreSQL compare alike."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # A unique index rather than a constraint: SQLite adds it without copying the table.
        Index("uq_users_email_key", "email_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Stored NFKC-casefolded, so "Alice" and "alice" are one account.
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumping this revokes every access token of the user at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Optional. `email` is where mail goes; `email_key` (case-folded) is what is unique and
    # looked up, so "Alice@Example.com" and "alice@example.com" are one address.
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountToken(Base):
    """A single-use link sent by mail (password reset, email verification), kept as a hash."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The address the link was sent to: once the user's address changes, the link is dead.
    email_key: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Session(Base):
    """One login on one device; the refresh token is kept only as a hash."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Indexed: instances load the sessions ended within the last access-token lifetime.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # How the login proved who it was (RFC 8176 `amr`, the assurance level, when): every token
    # the session issues, refreshed ones too, carries them. NULL on sessions older than them.
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    aal: Mapped[int | None] = mapped_column(Integer)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RotatedRefreshToken(Base):
    """A refresh token its session has rotated away from: if it comes back, someone copied it.

    Every earlier token of the family is kept until its session is purged, so a thief who
    rotates any number of times still leaves the victim's older token recognisable.
    """

    __tablename__ = "rotated_refresh_tokens"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MfaFactor(Base):
    """A second factor: a TOTP secret (encrypted at rest) or a WebAuthn credential."""

    __tablename__ = "mfa_factors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    # AES-256-GCM under a key derived from AUTHSVC_KEY_ENCRYPTION_SECRET, the id bound as AAD.
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # NULL until the user proves the factor works; an unconfirmed factor protects nothing.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last TOTP time step accepted: a code of that step or an earlier one is a replay.
    last_used_step: Mapped[int | None] = mapped_column(Integer)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    transports: Mapped[list[str] | None] = mapped_column(JSON)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """One single-use recovery code, kept as a hash; a new set replaces the old one."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MfaChallenge(Base):
    """A login half-way: the password was right, the second step is due; kept as a hash."""

    __tablename__ = "mfa_challenges"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # NULL only for a passwordless sign-in's challenge: nobody is known before the passkey.
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # `login` (a second factor is due), `enrol` (the policy wants one and there is none), or a
    # passkey ceremony's challenge (`passkey_add`, `passkey_login`), named by the challenge.
    purpose: Mapped[str] = mapped_column(String(16))
    # How the first step was done, its `amr` values space-separated: `pwd`, or `fed` (and what
    # a trusted provider said) for a provider's sign-in; the completed login's `amr` starts so.
    first_factor: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")
    # What the password step read, re-checked under the user's lock when the step completes.
    token_version: Mapped[int] = mapped_column(Integer)
    password_fingerprint: Mapped[str] = mapped_column(String(64))
    # A digest of the browser that did the first step (its User-Agent).
    browser: Mapped[str] = mapped_column(String(64))
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LinkedIdentity(Base):
    """A user's account at an external provider: (provider, subject) names one user."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_identities_provider_subject"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The address the provider reported when the identity was linked (shown, never trusted).
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OAuthState(Base):
    """A sign-in sent to an external provider: single-use, bound to the browser that started it."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the random value of the browser's state cookie.
    browser_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str | None] = mapped_column(String(2048))
    # Linking: the signed-in user who asked, and the token version their session carried.
    link_user_id: Mapped[str | None] = mapped_column(String(36))
    link_token_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """A key of the ring: pending -> active -> retiring -> retired, or revoked at any time.

    Retired and revoked keys keep their row (so their tokens are refused by name) but lose
    their private part.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one signing key, whatever number of instances race to create or rotate.
        Index(
            "uq_signing_keys_one_active",
            "state",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # At most one rotation under way, so that racing instances start exactly one.
        Index(
            "uq_signing_keys_one_pending",
            "state",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # AES-256-GCM under a key derived from AUTHSVC_KEY_ENCRYPTION_SECRET; see keys.py.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activate_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retire_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
