"""Signing in with, and linking, an external identity: who it is, and which account it opens.

The rules that keep an account from being taken over through a provider:
* an identity opens only the account it is linked to;
* an identity whose email is some account's address is never linked on its own: the person
  signs in to that account with its own credentials, then links the provider from there
  (whether or not that account's address was ever confirmed, so a pre-registered account
  never captures a federated sign-in);
* a new account gets the provider's address only when the provider vouches for it.
Everything read before the round trip to the provider (the account being linked, its token
version) is read again under the user's row lock before anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authsvc.errors import (
    IdentityLinkedElsewhere,
    InvalidCredentials,
    LastSignInMethod,
    LinkRequired,
    NotFound,
    ProviderEmailUnverified,
    RegistrationClosed,
)
from authsvc.federation import states
from authsvc.federation.providers import ExternalIdentity, ProviderClient
from authsvc.mail.address import address_key
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services.login import LoginResult, LoginService
from authsvc.services.sessions import end_sessions
from authsvc.services.users import (
    bump_token_version,
    find_by_email,
    find_by_username,
    normalise_username,
)
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import NO_PASSWORD, LinkedIdentity, MfaFactor, OAuthState, User

# How a federated sign-in is named in `amr` when the provider's own account is not trusted.
# RFC 8176 registers no value for "signed in at another provider"; this one is authsvc's own.
AMR_FEDERATED = "fed"
CHANGED_MEANWHILE = "The account changed while this sign-in was checked; sign in again."


@dataclass(frozen=True)
class FederationService:
    """Federated sign-in and linking with what they need, built once per running service."""

    providers: Mapping[str, ProviderClient]
    login: LoginService
    registration_open: bool
    state_lifetime: timedelta
    # The second step of the password login (`MfaService.second_step`): raises `SecondStepDue`.
    second_step: (
        Callable[[Session, User, ClientInfo, bool, datetime, tuple[str, ...]], None] | None
    ) = None

    def provider(self, name: str) -> ProviderClient:
        found = self.providers.get(name)
        if found is None:
            raise NotFound("No identity provider has this name.")
        return found

    def start(
        self,
        db: Session,
        provider: ProviderClient,
        *,
        browser: str,
        redirect_uri: str,
        next_url: str | None,
        link_user: User | None,
        now: datetime,
    ) -> str:
        """Store a new state and return where the browser goes at the provider."""
        started = states.start(
            db,
            provider=provider.name,
            browser=browser,
            next_url=next_url,
            link_user_id=link_user.id if link_user is not None else None,
            link_token_version=link_user.token_version if link_user is not None else None,
            now=now,
            lifetime=self.state_lifetime,
        )
        return provider.authorization_url(
            redirect_uri=redirect_uri,
            state=started.state,
            nonce=started.nonce,
            code_verifier=started.code_verifier,
        )

    def sign_in(
        self,
        db: Session,
        found: ExternalIdentity,
        client: ClientInfo,
        *,
        now: datetime,
        replaces_session: str | None = None,
    ) -> LoginResult:
        """Open a session for the account this identity is linked to, or a new account."""
        linked = _linked(db, found)
        if linked is not None:
            user = self._still_linked(db, linked, found, client, now=now)
        else:
            user = self._new_account(db, found, client, now=now)
        trusted = self.providers[found.provider].config.trust_amr
        amr, aal = _authentication(found, trusted=trusted)
        if self.second_step is not None and aal < 2:
            self.second_step(db, user, client, False, now, amr)
        return self.login.complete(
            db, user, False, client, now=now, amr=amr, aal=aal, replaces_session=replaces_session
        )

    def link(
        self,
        db: Session,
        found: ExternalIdentity,
        row: OAuthState,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> LinkedIdentity:
        """Link the identity to the signed-in user who started this sign-in."""
        assert row.link_user_id is not None
        user = lock_user(db, row.link_user_id)
        if user is None or user.disabled or user.token_version != row.link_token_version:
            # Signed out everywhere, disabled or deleted while the person was at the provider.
            audit.record(
                db,
                "identity_link_refused",
                now=now,
                user_id=row.link_user_id,
                client=client,
                provider=found.provider,
                reason="changed_meanwhile",
            )
            keep_when_refused(db)
            raise InvalidCredentials(CHANGED_MEANWHILE)
        linked = _linked(db, found)
        if linked is not None:
            if linked.user_id != user.id:
                raise IdentityLinkedElsewhere()
            return linked
        identity = _add_identity(db, user, found, now=now)
        audit.record(
            db,
            "identity_linked",
            now=now,
            user_id=user.id,
            client=client,
            provider=found.provider,
            identity_id=identity.id,
        )
        return identity

    def _still_linked(
        self,
        db: Session,
        linked: LinkedIdentity,
        found: ExternalIdentity,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> User:
        user = lock_user(db, linked.user_id)
        # Read again under the lock: an unlink or a disable that committed meanwhile wins.
        again = _linked(db, found, fresh=True)
        if user is None or again is None or again.user_id != user.id:
            audit.record(
                db,
                "login_failure",
                now=now,
                user_id=linked.user_id,
                client=client,
                reason="identity_unlinked",
                provider=found.provider,
            )
            keep_when_refused(db)
            raise InvalidCredentials(CHANGED_MEANWHILE)
        if user.disabled:
            audit.record(
                db,
                "login_failure",
                now=now,
                user_id=user.id,
                client=client,
                reason="disabled",
                provider=found.provider,
            )
            keep_when_refused(db)
            raise InvalidCredentials()
        again.last_used_at = now
        return user

    def _new_account(
        self, db: Session, found: ExternalIdentity, client: ClientInfo, *, now: datetime
    ) -> User:
        holder = find_by_email(db, found.email) if found.email is not None else None
        if holder is not None:
            # Never linked on the provider's word alone, confirmed address or not.
            audit.record(
                db,
                "login_failure",
                now=now,
                user_id=holder.id,
                client=client,
                reason="link_required" if found.email_verified else "provider_email_unverified",
                provider=found.provider,
            )
            keep_when_refused(db)
            if not found.email_verified:
                raise ProviderEmailUnverified()
            raise LinkRequired()
        if not self.registration_open:
            raise RegistrationClosed()
        email = found.email if found.email_verified else None
        username = f"{found.provider}:{found.subject}"[:150]
        if email is not None and find_by_username(db, email) is None:
            username = email
        user = User(
            id=str(uuid.uuid4()),
            username=normalise_username(username),
            password_hash=NO_PASSWORD,
            roles=[],
            created_at=now,
            password_changed_at=now,
            email=email,
            email_key=address_key(email) if email is not None else None,
            email_verified_at=now if email is not None else None,
        )
        try:
            with db.begin_nested():
                db.add(user)
                db.flush()
                identity = _add_identity(db, user, found, now=now)
        except IntegrityError:
            # The same identity's first sign-in in another tab won: sign in again finds it.
            raise InvalidCredentials(CHANGED_MEANWHILE) from None
        identity.last_used_at = now
        lock_user(db, user.id)
        audit.record(
            db,
            "user_registered",
            now=now,
            user_id=user.id,
            client=client,
            provider=found.provider,
        )
        audit.record(
            db,
            "identity_linked",
            now=now,
            user_id=user.id,
            client=client,
            provider=found.provider,
            identity_id=identity.id,
        )
        return user


def list_identities(db: Session, user_id: str) -> list[LinkedIdentity]:
    return list(
        db.scalars(
            select(LinkedIdentity)
            .where(LinkedIdentity.user_id == user_id)
            .order_by(LinkedIdentity.created_at)
        )
    )


def has_password(user: User) -> bool:
    return user.password_hash != NO_PASSWORD


def unlink(
    db: Session,
    user_id: str,
    identity_id: str,
    client: ClientInfo,
    *,
    now: datetime,
    keep_session: str,
) -> User:
    """Remove a linked identity under the user's lock; refused when it is the last way in.

    Sessions the identity may have opened end with it: every other session of the user ends
    and the token version moves on; the caller re-issues this session's access token.
    """
    user = lock_user(db, user_id)
    identity = db.get(LinkedIdentity, identity_id, populate_existing=True)
    if user is None or identity is None or identity.user_id != user_id:
        raise NotFound("No linked identity has this id.")
    others = db.scalar(
        select(func.count())
        .select_from(LinkedIdentity)
        .where(LinkedIdentity.user_id == user_id, LinkedIdentity.id != identity_id)
    )
    # A passkey signs in on its own too (passwordless): it counts as a way in.
    passkeys = db.scalar(
        select(func.count())
        .select_from(MfaFactor)
        .where(
            MfaFactor.user_id == user_id,
            MfaFactor.kind == "webauthn",
            MfaFactor.confirmed_at.is_not(None),
        )
    )
    if not has_password(user) and not others and not passkeys:
        raise LastSignInMethod()
    db.delete(identity)
    ended = end_sessions(db, user_id, reason="identity_unlinked", now=now, keep=keep_session)
    bump_token_version(db, user_id)
    db.expire(user, ["token_version"])
    audit.record(
        db,
        "identity_unlinked",
        now=now,
        user_id=user_id,
        client=client,
        provider=identity.provider,
        identity_id=identity.id,
        sessions_ended=ended,
    )
    return user


def _linked(db: Session, found: ExternalIdentity, *, fresh: bool = False) -> LinkedIdentity | None:
    query = select(LinkedIdentity).where(
        LinkedIdentity.provider == found.provider, LinkedIdentity.subject == found.subject
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return db.scalars(query).first()


def _add_identity(
    db: Session, user: User, found: ExternalIdentity, *, now: datetime
) -> LinkedIdentity:
    identity = LinkedIdentity(
        id=str(uuid.uuid4()),
        provider=found.provider,
        subject=found.subject,
        user_id=user.id,
        email=found.email,
        created_at=now,
    )
    db.add(identity)
    db.flush()
    return identity


def _authentication(found: ExternalIdentity, *, trusted: bool) -> tuple[tuple[str, ...], int]:
    """`amr` and `aal` of the session: the provider's own word only where the operator trusts it."""
    if trusted and found.amr:
        aal = 2 if "mfa" in found.amr else 1
        return tuple(dict.fromkeys((*found.amr, AMR_FEDERATED))), aal
    return (AMR_FEDERATED,), 1
