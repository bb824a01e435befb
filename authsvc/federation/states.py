"""The state of a sign-in sent to a provider: single-use, expiring, bound to one browser.

The browser holds a random value in a cookie; the row keeps its SHA-256 and that of the `state`
sent to the provider, with the nonce and the PKCE verifier. A callback must bring the `state`
and the cookie of the browser that started it; the row is spent by a guarded UPDATE, so two
callbacks racing with one state cannot both pass.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from authsvc.errors import OAuthStateInvalid
from authsvc.storage.models import OAuthState

# What a state or browser value may be: our own tokens are 43 characters.
_MAX_VALUE = 128


@dataclass(frozen=True)
class Started:
    state: str
    nonce: str
    code_verifier: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_browser_value() -> str:
    return secrets.token_urlsafe(32)


def start(
    db: Session,
    *,
    provider: str,
    browser: str,
    next_url: str | None,
    link_user_id: str | None,
    link_token_version: int | None,
    now: datetime,
    lifetime: timedelta,
) -> Started:
    """Store a new state for this browser; the caller commits."""
    # Spent and expired states are of no use to anyone: clear them as new ones are made.
    db.execute(delete(OAuthState).where(OAuthState.expires_at < now - lifetime))
    started = Started(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; 64 random bytes in base64url.
        code_verifier=secrets.token_urlsafe(64),
    )
    db.add(
        OAuthState(
            state_hash=digest(started.state),
            browser_hash=digest(browser),
            provider=provider,
            nonce=started.nonce,
            code_verifier=started.code_verifier,
            next_url=next_url,
            link_user_id=link_user_id,
            link_token_version=link_token_version,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return started


def redeem(
    db: Session, *, provider: str, state: str | None, browser: str | None, now: datetime
) -> OAuthState:
    """Spend the state this callback brings; refused when it is not this browser's, live one.

    The caller commits the spending before it talks to the provider, so a refusal later on
    never gives the state back.
    """
    if not state or not browser or len(state) > _MAX_VALUE or len(browser) > _MAX_VALUE:
        raise OAuthStateInvalid()
    row = db.get(OAuthState, digest(state))
    if row is None or row.provider != provider:
        raise OAuthStateInvalid()
    # Another browser's callback (a login CSRF: the attacker's code in the victim's browser).
    if not hmac.compare_digest(row.browser_hash, digest(browser)):
        raise OAuthStateInvalid()
    spent = db.execute(
        update(OAuthState)
        .where(
            OAuthState.state_hash == row.state_hash,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(spent, "rowcount", 0) or 0) != 1:
        raise OAuthStateInvalid()
    return row
