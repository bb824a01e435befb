"""Password hashing: argon2id through passlib's CryptContext (libpass), behind a small Protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from passlib.context import CryptContext


@dataclass(frozen=True)
class Verification:
    ok: bool
    # A fresh hash when the stored one was made with weaker parameters; store it.
    upgraded_hash: str | None = None


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, stored_hash: str) -> Verification: ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verification, for users that do not exist."""
        ...


class Argon2Hasher:
    # The defaults are OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB,
    # 2 passes, 1 lane.
    def __init__(self, memory_cost: int = 19456, time_cost: int = 2, parallelism: int = 1):
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost,
            argon2__time_cost=time_cost,
            argon2__parallelism=parallelism,
        )
        # Dummy hash to verify against when the user is not found, so timing tells nothing.
        self._dummy_hash = self.hash("authsvc-dummy-password")

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, stored_hash: str) -> Verification:
        try:
            ok, new_hash = self._context.verify_and_update(password, stored_hash)
        except (ValueError, TypeError):
            # An unreadable stored hash must not lock the service up; it simply never matches.
            return Verification(ok=False)
        return Verification(ok=bool(ok), upgraded_hash=new_hash if ok else None)

    def verify_dummy(self, password: str) -> None:
        self._context.verify(password, self._dummy_hash)
