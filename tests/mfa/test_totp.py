"""TOTP codes: the RFC 6238 test vectors, the drift window, and what is never a code."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from authsvc.mfa import totp

# RFC 6238 appendix B, SHA-1 seed "12345678901234567890"; our codes are the last 6 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("seconds", "eight_digits"), VECTORS)
def test_rfc_6238_vectors(seconds: int, eight_digits: str) -> None:
    when = datetime.fromtimestamp(seconds, UTC)
    assert totp.code_at(RFC_SECRET, when) == eight_digits[-6:]
    assert totp.matching_step(RFC_SECRET, eight_digits[-6:], when) == seconds // 30


def test_one_step_of_drift_either_way_and_no_more() -> None:
    now = datetime.fromtimestamp(1111111111, UTC)
    step = 1111111111 // 30
    for offset in (-1, 0, 1):
        code = totp.code_at(RFC_SECRET, datetime.fromtimestamp((step + offset) * 30, UTC))
        assert totp.matching_step(RFC_SECRET, code, now) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(RFC_SECRET, datetime.fromtimestamp((step + offset) * 30, UTC))
        assert totp.matching_step(RFC_SECRET, code, now) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", " 81804"])
def test_malformed_codes_match_nothing(code: str) -> None:
    assert totp.matching_step(RFC_SECRET, code, datetime.now(UTC)) is None


def test_the_uri_and_qr_code_name_the_account_and_issuer() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, account="alice", issuer="Example")
    assert uri.startswith("otpauth://totp/Example:alice?")
    assert f"secret={RFC_SECRET}" in uri
    assert "issuer=Example" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<path" in svg
