"""A forgotten password: a single-use link by mail, then a new password with it.

Asking for a link does the same work whatever the name given (a throttle check and a hand-over
to the outbox); whether the account exists, has an address or gets a mail is decided in the
background, so neither the answer nor its timing tells anything.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import partial

from sqlalchemy.orm import Session

from authsvc.errors import InvalidLinkToken
from authsvc.mail.messages import MailKind, describe_duration
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services import account_tokens
from authsvc.services.account_mail import AccountMail
from authsvc.services.account_tokens import Purpose
from authsvc.services.sessions import end_sessions
from authsvc.services.users import (
    PasswordRules,
    bump_token_version,
    find_by_login,
    new_password_hash,
    store_password,
)
from authsvc.storage.locking import lock_user
from authsvc.storage.models import User
from authsvc.throttle.endpoint import Throttle


def _throttle_key(login: str) -> str:
    # The name as given, folded: "Alice" and "alice" are counted together.
    return unicodedata.normalize("NFKC", login).casefold().strip()


@dataclass(frozen=True)
class PasswordRecovery:
    mail: AccountMail
    throttle: Throttle
    passwords: PasswordRules

    def request_reset(self, login: str, client: ClientInfo, *, now: datetime) -> None:
        """Queue a reset link for the account named (by username or address), if there is one."""
        key = _throttle_key(login)
        self.throttle.check(now, client=client.ip, account=key)
        self.throttle.count(now, client=client.ip, account=key)
        self.mail.outbox.submit(MailKind.password_reset, partial(self._prepare, login, client, now))

    def _prepare(self, login: str, client: ClientInfo, now: datetime) -> EmailMessage | None:
        """In the background: a token and a message when the account can get one."""
        with self.mail.session_factory() as db:
            found = find_by_login(db, login)
            # Locked before the token is stored: a new password or address committing meanwhile
            # either comes first (and is checked below) or discards this token after it.
            user = lock_user(db, found.id) if found is not None else None
            reason = _why_not(user)
            if user is None or reason is not None:
                audit.record(
                    db,
                    "password_reset_requested",
                    now=now,
                    user_id=user.id if user else None,
                    client=client,
                    sent=False,
                    reason=reason,
                )
                db.commit()
                return None
            assert user.email is not None
            token = account_tokens.issue(
                db, user, Purpose.password_reset, ttl=self.mail.reset_ttl, now=now
            )
            audit.record(
                db, "password_reset_requested", now=now, user_id=user.id, client=client, sent=True
            )
            message = self.mail.composer.compose(
                MailKind.password_reset,
                user.email,
                username=user.username,
                link=self.mail.links.password_reset(token),
                valid_for=describe_duration(self.mail.reset_ttl),
            )
            db.commit()
            return message

    def reset(
        self, db: Session, token: str, new_password: str, client: ClientInfo, *, now: datetime
    ) -> User:
        """Set the new password with a link's token; every session and token of the user ends.

        The password is checked and hashed before the token is used up (under the user row's
        lock), so a password the policy refuses leaves it unused.
        """
        owner = account_tokens.peek(db, token, Purpose.password_reset, now=now)
        if owner is None:
            raise InvalidLinkToken()
        password_hash = new_password_hash(new_password, self.passwords, username=owner.username)
        user = account_tokens.redeem(db, token, Purpose.password_reset, now=now).user
        store_password(db, user, password_hash, now=now)
        # The link reached the mailbox and came back: the address is the user's.
        if user.email_verified_at is None:
            user.email_verified_at = now
        end_sessions(db, user.id, reason="password_reset", now=now)
        bump_token_version(db, user.id)
        db.expire(user, ["token_version"])
        audit.record(db, "password_reset", now=now, user_id=user.id, client=client)
        return user


def _why_not(user: User | None) -> str | None:
    if user is None:
        return "unknown_login"
    if user.disabled:
        return "disabled"
    if user.email is None:
        return "no_email"
    return None
