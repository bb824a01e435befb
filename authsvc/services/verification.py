"""Confirming an email address: a single-use link by mail, then the address is verified."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import partial

from sqlalchemy.orm import Session

from authsvc.errors import BadRequest, Conflict, TooManyAttempts
from authsvc.mail.messages import MailKind, describe_duration
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services import account_tokens
from authsvc.services.account_mail import AccountMail
from authsvc.services.account_tokens import Purpose
from authsvc.storage.locking import lock_user
from authsvc.storage.models import User
from authsvc.throttle.endpoint import Throttle

logger = logging.getLogger("authsvc")


@dataclass(frozen=True)
class EmailVerification:
    mail: AccountMail
    throttle: Throttle

    def request_link(self, user: User, client: ClientInfo, *, now: datetime) -> None:
        """The signed-in user asks for a link (again): a clear refusal when it makes no sense."""
        if user.email is None:
            raise BadRequest("The account has no email address; add one with PATCH /account.")
        if user.email_verified_at is not None:
            raise Conflict("The email address is verified already.")
        self.throttle.check(now, client=client.ip, account=user.id)
        self.throttle.count(now, client=client.ip, account=user.id)
        self._submit(user.id, client, now)

    def send_link(self, user_id: str, client: ClientInfo, *, now: datetime) -> None:
        """Send a link without being asked (a new address, a refused login), unless throttled."""
        try:
            self.throttle.check(now, client=client.ip, account=user_id)
        except TooManyAttempts:
            logger.info("confirmation link not sent: throttled")
            return
        self.throttle.count(now, client=client.ip, account=user_id)
        self._submit(user_id, client, now)

    def verify(self, db: Session, token: str, client: ClientInfo, *, now: datetime) -> User:
        redeemed = account_tokens.redeem(db, token, Purpose.email_verification, now=now)
        user = redeemed.user
        if user.email_verified_at is None:
            user.email_verified_at = now
        audit.record(db, "email_verified", now=now, user_id=user.id, client=client)
        return user

    def _submit(self, user_id: str, client: ClientInfo, now: datetime) -> None:
        self.mail.outbox.submit(
            MailKind.email_verification, partial(self._prepare, user_id, client, now)
        )

    def _prepare(self, user_id: str, client: ClientInfo, now: datetime) -> EmailMessage | None:
        """In the background: a token and a message, unless the address needs none by now."""
        with self.mail.session_factory() as db:
            # Locked before the token is stored, as a password reset's (see recovery.py).
            user = lock_user(db, user_id)
            if user is None or user.disabled or user.email is None or user.email_verified_at:
                return None
            token = account_tokens.issue(
                db, user, Purpose.email_verification, ttl=self.mail.verification_ttl, now=now
            )
            audit.record(db, "email_verification_sent", now=now, user_id=user.id, client=client)
            message = self.mail.composer.compose(
                MailKind.email_verification,
                user.email,
                username=user.username,
                address=user.email,
                link=self.mail.links.email_verification(token),
                valid_for=describe_duration(self.mail.verification_ttl),
            )
            db.commit()
            return message
