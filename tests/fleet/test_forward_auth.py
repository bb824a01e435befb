"""nginx protects a service with GET /verify (deploy/nginx/forward-auth.conf) before a fleet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.cookies import ACCESS
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.fleet import EchoApp, Fleet, require, start_gateway
from tests.helpers.headers import bearer
from tests.helpers.login import log_in_at

pytestmark = [pytest.mark.server, pytest.mark.postgres]


@pytest.fixture
def gateway(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Fleet, EchoApp]]:
    with EchoApp() as app:
        fleet = require(lambda: start_gateway(postgres_url, tmp_path / "fleet", app.port))
        try:
            yield fleet, app
        finally:
            fleet.stop()


FORGED = {"X-Auth-User": "forged-user", "X-Auth-Session": "forged", "X-Auth-Roles": "admin"}


def test_the_gateway_passes_the_identity_never_forged_headers_and_refuses_a_revoked_token(
    gateway: tuple[Fleet, EchoApp], postgres_url: str
) -> None:
    fleet, app = gateway
    alice = add_user(postgres_url, "alice", PASSWORD)
    bob = add_user(postgres_url, "bob", PASSWORD, roles=["billing", "support"])
    alice_login = log_in_at(fleet.url, "alice")
    alice_token = alice_login.cookies[ACCESS]
    alice_cookie = {"Cookie": f"{ACCESS}={alice_token}"}
    alice_session = alice_login.json()["session"]["id"]
    bob_token = log_in_at(fleet.url, "bob").cookies[ACCESS]

    with httpx.Client(base_url=fleet.url, timeout=15) as http:
        assert http.get("/app/", headers=FORGED).status_code == 401
        assert app.requests == []
        # Every instance answers the check in turn (nginx round-robins the subrequests).
        for _ in range(6):
            answer = http.get("/app/orders?page=2", headers={**alice_cookie, **FORGED})
            assert answer.status_code == 200, answer.text
            seen = answer.json()["headers"]
            assert answer.json()["path"] == "/orders?page=2"
            assert seen["x-auth-user"] == alice
            assert seen["x-auth-session"] == alice_session
            # alice has no role: nginx sends no X-Auth-Roles, and never the client's.
            assert "x-auth-roles" not in seen
        by_bearer = http.get("/app/", headers={**bearer(bob_token), **FORGED})
        assert by_bearer.status_code == 200
        seen = by_bearer.json()["headers"]
        assert (seen["x-auth-user"], seen["x-auth-roles"]) == (bob, "billing,support")
        assert [request["x-auth-user"] for request in app.requests] == [alice] * 6 + [bob]

        out = http.post("/logout?everywhere=true", headers=bearer(alice_token))
        assert out.json()["everywhere"] is True
        # Whichever instance nginx asks, the revoked token is refused, and the app never hears.
        for _ in range(6):
            assert http.get("/app/", headers={**alice_cookie, **FORGED}).status_code == 401
        assert len(app.requests) == 7
