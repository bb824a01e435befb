"""Settings of outgoing mail."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import parse_limits
from authsvc.errors import MissingSetting
from authsvc.mail.address import parse_sender
from authsvc.mail.smtp import SmtpRelay


class MailSettings(SettingsGroup):
    """Mail over SMTP: password-reset and address-confirmation links, and how often they go out."""

    model_config = SettingsConfigDict(title="Mail: SMTP, password reset, email verification")

    smtp_url: SecretStr | None = Field(
        default=None,
        description=(
            "The relay that sends mail: `smtp://[user:password@]host[:587]` (STARTTLS, "
            "required), `smtps://[user:password@]host[:465]` (TLS from the start) or "
            "`smtp+plain://host[:25]` (no encryption and so no credentials: a relay on this host "
            "or a trusted network). Percent-encode `@`, `:` and `/` in the user and password. "
            "Unset: no mail, and `/password/forgot`, `/password/reset`, `/email/verify` and "
            "`/email/verify/request` answer 404."
        ),
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            SmtpRelay.from_url(value.get_secret_value())
        return value

    smtp_ca_file: str | None = Field(
        default=None,
        description=(
            "PEM file of the certificate authorities to trust for the relay's certificate, "
            "instead of the system's."
        ),
    )
    smtp_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long one connection to the relay may take to answer.",
    )
    mail_from: str | None = Field(
        default=None,
        description=(
            "The sender of every mail, `noreply@example.com` or `Example <noreply@example.com>`; "
            "required with AUTHSVC_SMTP_URL."
        ),
    )

    @field_validator("mail_from")
    @classmethod
    def _sender_valid(cls, value: str | None) -> str | None:
        return None if value is None else parse_sender(value)

    public_url: str | None = Field(
        default=None,
        description=(
            "The base of the links in mails, which open `/ui/reset?token=…` and "
            "`/ui/verify-email?token=…` under it; unset: AUTHSVC_ISSUER. Point it at your own "
            "app when it serves those pages itself."
        ),
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://auth.example.com")
        if parts.query or parts.fragment:
            raise ValueError("takes no query or fragment: the links add their own")
        return value.rstrip("/")

    password_reset_ttl_seconds: int = Field(
        default=30 * 60,
        ge=60,
        le=24 * 3600,
        description="How long a password-reset link works (it works once).",
    )
    email_verification_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=300,
        le=30 * 86400,
        description="How long a link that confirms an email address works (it works once).",
    )
    mail_limit_account: str = Field(
        default="5/hour;20/day",
        description=(
            "Password-reset requests allowed per account (as named in the request) from all "
            "addresses, and confirmation links per signed-in account (`limits` syntax); more "
            "are answered 429 and send nothing."
        ),
    )
    mail_limit_client_account: str = Field(
        default="3/hour",
        description="The same, per account from one client address.",
    )
    mail_limit_client: str = Field(
        default="30/hour",
        description="Mail requests allowed from one client address across all accounts.",
    )

    @field_validator("mail_limit_account", "mail_limit_client_account", "mail_limit_client")
    @classmethod
    def _mail_limits_parse(cls, value: str) -> str:
        parse_limits(value)
        return value

    mail_send_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description=(
            "Tries to hand a mail to the relay before it is given up (and logged as an error); "
            "a permanent refusal (5xx) is not tried again."
        ),
    )
    mail_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Wait before the first retry; each further one waits twice as long.",
    )

    @property
    def mail_enabled(self) -> bool:
        return self.smtp_url is not None

    def smtp_relay(self, local_hostname: str | None = None) -> SmtpRelay:
        if self.smtp_url is None:
            raise MissingSetting("AUTHSVC_SMTP_URL is not set")
        return SmtpRelay.from_url(
            self.smtp_url.get_secret_value(),
            timeout=self.smtp_timeout_seconds,
            ca_file=self.smtp_ca_file,
            local_hostname=local_hostname,
        )
