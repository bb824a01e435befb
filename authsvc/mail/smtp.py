"""The SMTP relay named by AUTHSVC_SMTP_URL, and sending one message to it with `smtplib`.

| scheme | connection | default port |
|---|---|---|
| `smtp://` | STARTTLS, required: a relay that does not offer it gets nothing | 587 |
| `smtps://` | TLS from the first byte | 465 |
| `smtp+plain://` | no encryption, and so no credentials (a relay on this host) | 25 |

Certificates are verified against the system's store, or only against AUTHSVC_SMTP_CA_FILE.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

Security = Literal["starttls", "tls", "plain"]

_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("starttls", 587),
    "smtps": ("tls", 465),
    "smtp+plain": ("plain", 25),
}


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None
    # The name we greet with (EHLO); given, so that no reverse DNS look-up delays a send.
    local_hostname: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 10.0,
        ca_file: str | None = None,
        local_hostname: str | None = None,
    ) -> SmtpRelay:
        """Raise ValueError, saying what to write instead, for anything but a usable relay URL."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(
                "must start with smtp:// (STARTTLS), smtps:// (TLS) or smtp+plain:// (unencrypted)"
            )
        security, default_port = _SCHEMES[scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("names no host, e.g. smtp://mail.example.com")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("takes no path, query or fragment")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if (username is None) != (password is None):
            raise ValueError("give both a user and a password, or neither")
        if username is not None and security == "plain":
            raise ValueError(
                "smtp+plain:// would send the credentials unencrypted: use smtp:// or smtps://"
            )
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=username,
            password=password,
            timeout=timeout,
            ca_file=ca_file,
            local_hostname=local_hostname,
        )

    @property
    def name(self) -> str:
        """Where mail goes, safe to log: no credentials."""
        return f"{self.host}:{self.port} ({self.security})"

    def send(self, message: EmailMessage) -> None:
        """Deliver one message; raises smtplib.SMTPException or OSError when it is not accepted."""
        context = ssl.create_default_context(cafile=self.ca_file)
        connection: smtplib.SMTP
        if self.security == "tls":
            connection = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=context,
            )
        else:
            connection = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        with connection:
            if self.security == "starttls":
                # Raises SMTPNotSupportedError when the relay does not offer it: never in clear.
                connection.starttls(context=context)
            if self.username is not None and self.password is not None:
                connection.login(self.username, self.password)
            connection.send_message(message)
