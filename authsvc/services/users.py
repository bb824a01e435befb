"""User accounts: creation, lookup, and the token-version bump that revokes every token."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authsvc.errors import BadRequest, Conflict
from authsvc.mail.address import EmailAddress, address_key, parse_address
from authsvc.passwords.hashing import PasswordHasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.revocation.publish import announce_token_version
from authsvc.services import account_tokens
from authsvc.services.account_tokens import Purpose
from authsvc.storage.models import User

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_ROLES = 32
# Roles travel in every token and in headers of forward-auth answers: plain words only.
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@dataclass(frozen=True)
class PasswordRules:
    """What setting a password takes: the policy it must meet and the hasher that stores it."""

    hasher: PasswordHasher
    policy: PasswordPolicy


def normalise_username(username: str) -> str:
    """NFKC plus casefold, so look-alike spellings of one name cannot become two accounts."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def validate_new_username(username: str) -> str:
    name = normalise_username(username)
    if not 1 <= len(name) <= 150:
        raise BadRequest("A username has 1 to 150 characters.")
    if any(unicodedata.category(char).startswith(("C", "Z")) and char != " " for char in name):
        raise BadRequest("A username may not contain control or separator characters.")
    return name


def validate_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"A password has at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")


def validate_roles(roles: list[str]) -> list[str]:
    """The roles as stored: each a plain word, sorted, without duplicates."""
    for role in roles:
        if not _ROLE.fullmatch(role):
            raise BadRequest(
                f"{role!r} is not a role: 1 to 64 letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit."
            )
    unique = sorted(set(roles))
    if len(unique) > MAX_ROLES:
        raise BadRequest(f"A user has at most {MAX_ROLES} roles.")
    return unique


def find_by_username(db: Session, username: str) -> User | None:
    if "\x00" in username:
        # No account has one (creation refuses control characters), and PostgreSQL rejects
        # NUL in text: the caller's answer must be "no such user", not a database error.
        return None
    return db.scalars(select(User).where(User.username == normalise_username(username))).first()


def validate_email(email: str) -> EmailAddress:
    try:
        return parse_address(email)
    except ValueError as exc:
        raise BadRequest(f"email: {exc}") from None


def find_by_email(db: Session, email: str) -> User | None:
    key = address_key(email)
    if key is None:
        return None
    return db.scalars(select(User).where(User.email_key == key)).first()


def find_by_login(db: Session, login: str) -> User | None:
    """The account a person names by its email address or by its username.

    An address that is some account's address names that account, even when another account
    has it as its username: mail then goes to the address's own account, so a username chosen
    to look like someone's address gains nothing.
    """
    if "\x00" in login:
        return None
    by_email = find_by_email(db, login) if "@" in login else None
    return by_email or find_by_username(db, login)


@dataclass(frozen=True)
class NewUser:
    """What an account is created with."""

    username: str
    password: str
    roles: list[str]
    email: str | None = None
    email_verified: bool = False


def create_user(db: Session, hasher: PasswordHasher, new: NewUser, *, now: datetime) -> User:
    name = validate_new_username(new.username)
    validate_new_password(new.password)
    roles = validate_roles(new.roles)
    address = validate_email(new.email) if new.email is not None else None
    if find_by_username(db, name) is not None:
        raise Conflict("A user with that username exists already.")
    if address is not None:
        _check_address_free(db, address, user_id=None)
    user = User(
        id=str(uuid.uuid4()),
        username=name,
        password_hash=hasher.hash(new.password),
        token_version=0,
        disabled=False,
        roles=roles,
        created_at=now,
        password_changed_at=now,
        email=address.address if address else None,
        email_key=address.key if address else None,
        email_verified_at=now if address and new.email_verified else None,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict("A user with that username or email address exists already.") from exc
    return user


def set_email(db: Session, user: User, email: str | None, *, verified: bool, now: datetime) -> bool:
    """Give the user this address (None: none); whether the address changed.

    A new address is unverified unless `verified`, and every link sent to the old one dies.
    """
    address = validate_email(email) if email is not None else None
    new_key = address.key if address else None
    if new_key == user.email_key:
        if address is not None:
            user.email = address.address
            if verified and user.email_verified_at is None:
                user.email_verified_at = now
        return False
    if address is not None:
        _check_address_free(db, address, user_id=user.id)
    user.email = address.address if address else None
    user.email_key = new_key
    user.email_verified_at = now if address and verified else None
    account_tokens.discard(db, user.id)
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict("That email address belongs to another account.") from exc
    return True


def _check_address_free(db: Session, address: EmailAddress, *, user_id: str | None) -> None:
    owner = db.scalars(select(User.id).where(User.email_key == address.key)).first()
    if owner is not None and owner != user_id:
        raise Conflict("That email address belongs to another account.")


def new_password_hash(password: str, rules: PasswordRules, *, username: str) -> str:
    """Check a new password against the policy and hash it: the slow part, before any lock."""
    rules.policy.check(password, username=username)
    return rules.hasher.hash(password)


def store_password(db: Session, user: User, password_hash: str, *, now: datetime) -> None:
    """Store a new password's hash, under the user's row lock; revoking tokens is the caller's."""
    user.password_hash = password_hash
    user.password_changed_at = now
    # A reset link asked for before is for a password that no longer is.
    account_tokens.discard(db, user.id, Purpose.password_reset)


def bump_token_version(db: Session, user_id: str) -> int:
    """Revoke every access token of the user with one UPDATE; returns the new version."""
    new_version = db.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version + 1)
        .returning(User.token_version)
    ).scalar_one()
    # Downstream caches of token versions learn of the bump when (and only if) it commits.
    announce_token_version(db, user_id, int(new_version))
    return int(new_version)
