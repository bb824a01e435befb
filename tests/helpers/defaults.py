"""What every test agrees on: the user's password, the key-encryption secret, the issuer."""

from __future__ import annotations

PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-key-encryption-secret-0123456789abcdef"
ISSUER = "http://authsvc.test"
