"""Email addresses: validated with `email-validator`, normalised once for sending and for lookup."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr

from email_validator import EmailNotValidError, validate_email

# RFC 5321's limit on a forward path, which email-validator enforces too.
MAX_ADDRESS_LENGTH = 254


@dataclass(frozen=True)
class EmailAddress:
    """An address as it is sent to (`address`) and as it is compared (`key`)."""

    address: str
    key: str


def parse_address(text: str) -> EmailAddress:
    """Raise ValueError with a message for people when `text` is not one usable address.

    No DNS is asked (a relay on a private network decides what it delivers); the domain is
    IDNA-normalised and lower-cased, and the key folds case in the local part too, because
    no mail provider in use tells `Alice@` from `alice@`.
    """
    try:
        valid = validate_email(text.strip(), check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return EmailAddress(address=valid.normalized, key=valid.normalized.casefold())


def address_key(text: str) -> str | None:
    """The lookup key of `text`, or None when it is no address (so it names no account)."""
    try:
        return parse_address(text).key
    except ValueError:
        return None


def parse_sender(text: str) -> str:
    """A From header value: `noreply@example.com` or `Example <noreply@example.com>`."""
    try:
        valid = validate_email(
            text.strip(),
            check_deliverability=False,
            globally_deliverable=False,
            allow_display_name=True,
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid sender address: {exc}") from None
    return formataddr((valid.display_name or "", valid.normalized))
