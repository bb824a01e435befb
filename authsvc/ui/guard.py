"""Who is signed in, for a page: a valid access token whose session is still alive."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from authsvc.api.deps import DbDep, OptionalSession, RuntimeDep
from authsvc.errors import SessionEnded
from authsvc.services.authentication import Authenticated
from authsvc.services.sessions import live_session


def signed_in(
    runtime: RuntimeDep, db: DbDep, authenticated: OptionalSession
) -> Authenticated | None:
    """The session behind the access token, or None.

    Pages read the session's row (the JSON API checks only the token and its version), so a
    device signed out from the account page is refused by the pages at once.
    """
    if authenticated is None:
        return None
    try:
        live_session(db, authenticated.user.id, authenticated.claims.sid, now=runtime.clock.now())
    except SessionEnded:
        return None
    return authenticated


SignedIn = Annotated[Authenticated | None, Depends(signed_in)]
