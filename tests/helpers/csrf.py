"""What CSRF tests share: the service's own origin, a foreign one, the token's header, and the two
things a refused cross-site request must leave as they were (alice's token version, open sessions).
"""

from __future__ import annotations

from tests.helpers.fixture_types import DbQuery

ORIGIN = "http://authsvc.test"
EVIL = "https://evil.example"
HEADER = "X-CSRF-Token"


def token_version(db_query: DbQuery) -> int:
    return int(db_query("SELECT token_version FROM users WHERE username = 'alice'")[0][0])


def open_sessions(db_query: DbQuery) -> int:
    return len(db_query("SELECT id FROM sessions WHERE ended_at IS NULL"))
