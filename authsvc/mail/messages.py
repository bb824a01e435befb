"""Messages rendered from the Jinja2 templates beside this module: a subject, a plain-text body
and an HTML alternative for each kind of mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from authsvc.clock import Clock


class MailKind(StrEnum):
    """A kind of mail; its templates are `templates/<kind>/{subject.txt,body.txt,body.html}`."""

    password_reset = "password_reset"
    email_verification = "email_verification"
    # A second factor added or removed, new recovery codes, an operator's reset.
    security_notice = "security_notice"


def describe_duration(duration: timedelta) -> str:
    """`30 minutes`, `1 hour`, `2 days`: how long a link stays valid, for people."""
    minutes = int(duration.total_seconds() // 60)
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes >= size and minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("authsvc.mail", "templates"),
        # HTML bodies escape what they show (a username is the user's own text); text does not.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class MailComposer:
    """Turns a kind of mail and what it shows into a message from AUTHSVC_MAIL_FROM."""

    sender: str
    # How mails name the service: the host of the links they carry.
    site: str
    clock: Clock
    environment: Environment

    @classmethod
    def create(cls, sender: str, site: str, clock: Clock) -> MailComposer:
        return cls(sender=sender, site=site, clock=clock, environment=_environment())

    def compose(self, kind: MailKind, recipient: str, **context: Any) -> EmailMessage:
        values = {"site": self.site, **context}
        subject = self._render(kind, "subject.txt", values)
        message = EmailMessage()
        # One line, whatever the template's line breaks: a header must not be split by them.
        message["Subject"] = " ".join(subject.split())
        message["From"] = self.sender
        message["To"] = recipient
        message["Date"] = format_datetime(self.clock.now())
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        message["Message-ID"] = make_msgid(domain=domain)
        # RFC 3834: vacation responders and the like do not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self._render(kind, "body.txt", values))
        message.add_alternative(self._render(kind, "body.html", values), subtype="html")
        return message

    def _render(self, kind: MailKind, name: str, values: dict[str, Any]) -> str:
        return self.environment.get_template(f"{kind.value}/{name}").render(values)
