"""The verifier library refuses a token of an ended session; through the database, at once."""

from __future__ import annotations

import pytest

from authsvc.errors import SessionEnded
from authsvc.verify import (
    DatabaseSource,
    TokenVerifier,
)
from tests.helpers.asgi import SyncClient
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import log_in_sync
from tests.helpers.verifiers import verifier_for_app


def session_token(authsvc: SyncClient) -> tuple[str, str]:
    """Log in as a scripted client: (access token, session id)."""
    response = log_in_sync(authsvc)
    authsvc.cookies.clear()
    return response.cookies["authsvc_at"], response.json()["session"]["id"]


def log_out(authsvc: SyncClient, token: str) -> None:
    assert authsvc.post("/logout", headers=bearer(token)).status_code == 200


def refuses_as_ended(verifier: TokenVerifier, token: str) -> bool:
    try:
        verifier.verify(token)
    except SessionEnded:
        return True
    return False


def test_a_database_source_refuses_a_logged_out_session_at_once(
    authsvc: SyncClient, database_url: str, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    source = DatabaseSource(database_url)
    try:
        verifier = verifier_for_app(authsvc, versions=source, clock=clock)
        token, _ = session_token(authsvc)
        other, _ = session_token(authsvc)
        verifier.verify(token)
        log_out(authsvc, token)
        with pytest.raises(SessionEnded):
            verifier.verify(token)
        verifier.verify(other)
    finally:
        source.close()
