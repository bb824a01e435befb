"""A real SMTP server (aiosmtpd, in a thread of the test process) that keeps what it receives,
certificates for its TLS modes, and reading the link out of a received message."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.processes import free_port

SENDER = "authsvc <noreply@example.com>"
SMTP_USER = "mailer"
SMTP_PASSWORD = "relay p@ss:word"
Mode = Literal["plain", "starttls", "tls", "starttls-not-offered"]


@dataclass
class Inbox:
    """What the server received, and how it answers the next messages."""

    messages: list[EmailMessage] = field(default_factory=list)
    # Answers given (in order) before any message is accepted, e.g. "451 try again later".
    refusals: list[str] = field(default_factory=list)
    # Seconds the server takes to accept each message: a slow relay.
    delay: float = 0.0
    condition: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, _server: SMTP, _session: SmtpSession, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.condition:
            if self.refusals:
                return self.refusals.pop(0)
            content = envelope.original_content or b""
            parsed = message_from_bytes(content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
            self.condition.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, once that many arrived."""
        with self.condition:
            arrived = self.condition.wait_for(lambda: len(self.messages) >= count, timeout)
            assert arrived, f"{len(self.messages)} of {count} messages arrived in {timeout} s"
            return list(self.messages[:count])


@dataclass(frozen=True)
class MailServer:
    inbox: Inbox
    port: int
    mode: Mode
    ca_file: str | None

    def url(self, *, credentials: bool = False) -> str:
        scheme = {"plain": "smtp+plain", "tls": "smtps"}.get(self.mode, "smtp")
        login = f"{SMTP_USER}:{SMTP_PASSWORD.replace('@', '%40').replace(':', '%3A')}@"
        return f"{scheme}://{login if credentials else ''}127.0.0.1:{self.port}"

    def settings(self, *, credentials: bool = False) -> dict[str, Any]:
        """What the service is told to use this server: its URL, trust, a sender, fast retries."""
        values: dict[str, Any] = {
            "smtp_url": self.url(credentials=credentials),
            "mail_from": SENDER,
            "mail_retry_seconds": 0.2,
            "smtp_timeout_seconds": 5,
        }
        if self.ca_file is not None:
            values["smtp_ca_file"] = self.ca_file
        return values


def _authenticate(
    _server: SMTP, _session: SmtpSession, _envelope: Envelope, _mechanism: str, data: Any
) -> AuthResult:
    accepted = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=accepted)


@contextmanager
def mail_server(mode: Mode = "plain", *, certificates: Path | None = None) -> Iterator[MailServer]:
    """Run an SMTP server on a free port of 127.0.0.1 for the duration; stopped afterwards."""
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    ca_file = None
    if mode != "plain" and mode != "starttls-not-offered":
        assert certificates is not None, "TLS modes need a directory for their certificate"
        cert, key = make_certificate(certificates)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        ca_file = str(cert)
        options.update(authenticator=_authenticate)
        if mode == "tls":
            # The transport is TLS from the start; aiosmtpd only knows STARTTLS as "TLS".
            options.update(ssl_context=context, auth_require_tls=False)
        else:
            options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    controller = Controller(inbox, **options)
    controller.start()
    try:
        yield MailServer(inbox=inbox, port=port, mode=mode, ca_file=ca_file)
    finally:
        controller.stop()


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost; its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authsvc test relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay-cert.pem", directory / "relay-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no plain-text body"
    return str(part.get_content())


def body_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the message has no HTML body"
    return str(part.get_content())


def link_in(message: EmailMessage, page: str) -> str:
    """The one link to `page` in the plain-text body."""
    links = re.findall(rf"https?://\S+{re.escape(page)}\?token=\S+", body_text(message))
    assert len(links) == 1, links
    return str(links[0])


def token_in(message: EmailMessage, page: str) -> str:
    return link_in(message, page).partition("?token=")[2]


async def mail_settled(client: httpx.AsyncClient, timeout: float = 10.0) -> None:
    """Wait until the service has sent or given up every mail handed to it (its metrics say)."""
    deadline = time.monotonic() + timeout
    while "authsvc_mail_pending 0.0" not in (await client.get("/metrics")).text:
        assert time.monotonic() < deadline, "mail still pending"
        await asyncio.sleep(0.02)
