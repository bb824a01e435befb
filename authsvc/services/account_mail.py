"""What account mail needs: the outbox, the messages, the links, and how often it may go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.mail.messages import MailComposer
from authsvc.mail.outbox import Outbox, RetryPolicy

# The pages that complete a link: they read `token` from the query and POST it to the API.
RESET_PAGE = "/ui/reset"
VERIFY_PAGE = "/ui/verify-email"


@dataclass(frozen=True)
class MailLinks:
    """Links built on AUTHSVC_PUBLIC_URL (else the issuer)."""

    base: str

    def password_reset(self, token: str) -> str:
        return f"{self.base}{RESET_PAGE}?token={quote(token)}"

    def email_verification(self, token: str) -> str:
        return f"{self.base}{VERIFY_PAGE}?token={quote(token)}"


@dataclass(frozen=True)
class AccountMail:
    """The outbox and the messages, and a database of its own: mail is prepared off the request,
    in a transaction that the background thread commits."""

    outbox: Outbox
    composer: MailComposer
    links: MailLinks
    session_factory: sessionmaker[Session]
    reset_ttl: timedelta
    verification_ttl: timedelta

    @classmethod
    def from_settings(
        cls, settings: Settings, session_factory: sessionmaker[Session], clock: Clock
    ) -> AccountMail | None:
        """None when no relay is configured: then no account mail exists at all."""
        if not settings.mail_enabled or settings.mail_from is None:
            return None
        site = urlsplit(settings.link_base).hostname or "authsvc"
        retry = RetryPolicy(
            attempts=settings.mail_send_attempts, first_delay=settings.mail_retry_seconds
        )
        outbox = Outbox(settings.smtp_relay(local_hostname=site), retry)
        return cls(
            outbox=outbox,
            composer=MailComposer.create(settings.mail_from, site, clock),
            links=MailLinks(settings.link_base),
            session_factory=session_factory,
            reset_ttl=timedelta(seconds=settings.password_reset_ttl_seconds),
            verification_ttl=timedelta(seconds=settings.email_verification_ttl_seconds),
        )
