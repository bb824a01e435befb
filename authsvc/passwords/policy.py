"""Which new passwords are accepted: a minimum length and no commonly used password."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

from authsvc.errors import WeakPassword

MAX_PASSWORD_LENGTH = 1024


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password).casefold()


@cache  # a constant of the installed package: read once per process
def load_common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (from leaked password corpora)."""
    # Imported here: the list is large, and only the processes that check passwords need it.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(_normalise(word) for word in FREQUENCY_LISTS["passwords"])


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    common: frozenset[str] = field(default_factory=frozenset, repr=False)

    @classmethod
    def with_common_list(cls, min_length: int) -> PasswordPolicy:
        return cls(min_length=min_length, common=load_common_passwords())

    def check(self, password: str, *, username: str = "") -> None:
        """Raise WeakPassword with a message that says what to change."""
        length = len(password)
        if length < self.min_length:
            raise WeakPassword(f"A password has at least {self.min_length} characters.")
        if length > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")
        normalised = _normalise(password)
        if normalised in self.common:
            raise WeakPassword("This password is too common; choose one that is not on a list.")
        name = _normalise(username)
        # Short names occur inside good passwords by chance; longer ones are a guessable hint.
        if len(name) >= 4 and name in normalised:
            raise WeakPassword("A password may not contain the username.")
