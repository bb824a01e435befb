"""TOTP (RFC 6238) on pyotp: SHA-1, 6 digits, 30-second steps, one step of drift either way."""

from __future__ import annotations

from datetime import datetime

import pyotp
import segno

DIGITS = 6
STEP_SECONDS = 30
# Codes of the step before and after the current one are accepted too (clock drift, typing).
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits in base32, the size RFC 4226 recommends for SHA-1."""
    return pyotp.random_base32(32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def code_at(secret: str, when: datetime) -> str:
    """The code of the step `when` falls in (for tests and the enrolment page's self-check)."""
    return _totp(secret).at(when)


def step_of(when: datetime) -> int:
    return int(when.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is, within the allowed drift; None when it is none."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    current = step_of(now)
    found = None
    # Every candidate is compared (in constant time, by pyotp), so timing tells nothing.
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        step = current + offset
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            found = step
    return found


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code in inline SVG (no XML declaration), ready to put in a page."""
    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(scale=4, title="TOTP enrolment QR code")
    return svg
