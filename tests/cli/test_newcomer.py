"""A newcomer on another port: an issuer left unset follows the address `authsvc serve` serves."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.defaults import PASSWORD
from tests.helpers.headers import spa_headers
from tests.helpers.processes import LiveServer, free_port, inherited_env

pytestmark = pytest.mark.server


@pytest.fixture
def newcomer_server(database_url: str, tmp_path: Path) -> LiveServer:
    """`authsvc serve` on a random port, with nothing set but the database and the secret."""
    # No AUTHSVC_ISSUER and no AUTHSVC_ALLOWED_ORIGINS: what a fresh clone has.
    port = free_port()
    env = {**inherited_env(), **cli_env(database_url), "AUTHSVC_COOKIE_SECURE": "auto"}
    server = LiveServer(port=port, env=env, workdir=tmp_path)
    server.command = (*server.command, "--port", str(port))
    return server


def test_discovery_and_a_browser_login_follow_the_port_served(
    newcomer_server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    server = newcomer_server.start()
    try:
        url = server.url
        discovery = httpx.get(f"{url}/.well-known/openid-configuration", timeout=10).json()
        assert discovery["issuer"] == url
        assert discovery["jwks_uri"] == f"{url}/.well-known/jwks.json"
        assert httpx.get(discovery["jwks_uri"], timeout=10).json()["keys"]
        # Start-up tells the newcomer where it is and what to do next.
        log = server.log()
        assert f"authsvc: issuer {url}" in log
        assert f"authsvc: JWKS {url}/.well-known/jwks.json" in log
        assert "authsvc users create" in log

        created = run_cli(
            "users", "create", "alice", "--password-stdin",
            env=cli_env(database_url), stdin=PASSWORD, cwd=tmp_path,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        with httpx.Client(base_url=url, timeout=10) as browser:
            # A page served from the service's own origin: the CSRF origin check accepts it.
            assert browser.get("/session").status_code == 401
            response = browser.post(
                "/login",
                json={"username": "alice", "password": PASSWORD},
                headers=spa_headers(browser, url),
            )
            assert response.status_code == 200, response.text
            token = response.cookies["authsvc_at"]
            assert jwt.decode(token, options={"verify_signature": False})["iss"] == url
            assert browser.get("/session").json()["user"]["username"] == "alice"
            assert browser.post("/logout", headers=spa_headers(browser, url)).status_code == 200
            assert browser.get("/session").status_code == 401
    finally:
        server.stop()
