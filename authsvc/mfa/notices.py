"""Telling the user by mail that the sign-in security of their account changed."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial

from authsvc.mail.messages import MailKind
from authsvc.services.account_mail import AccountMail
from authsvc.storage.models import User

# What each audited change says to the user.
CHANGES = {
    "mfa_factor_added": "A second factor (an authenticator app) was added.",
    "mfa_factor_removed": "A second factor was removed.",
    "mfa_recovery_codes_regenerated": "New recovery codes were made; the old ones no longer work.",
    "mfa_reset": "An operator removed every second factor and recovery code.",
}


@dataclass(frozen=True)
class SecurityNotices:
    """Queues the notice after the change committed; without mail configured, nothing."""

    mail: AccountMail | None

    def send(self, user_id: str, change: str) -> None:
        if self.mail is None:
            return
        self.mail.outbox.submit(MailKind.security_notice, partial(self._prepare, user_id, change))

    def _prepare(self, user_id: str, change: str) -> EmailMessage | None:
        assert self.mail is not None
        with self.mail.session_factory() as db:
            user = db.get(User, user_id)
            if user is None or user.email is None:
                return None
            return self.mail.composer.compose(
                MailKind.security_notice,
                user.email,
                username=user.username,
                change=CHANGES[change],
            )
