"""authsvc and the example downstream service as real servers, for each token-version source:
log in, call the example with the cookie, log out everywhere, and watch the old cookie refused."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from authsvc.services.introspection import new_client_secret
from tests.helpers.fixture_types import MakeUser, StartServer
from tests.helpers.headers import bearer
from tests.helpers.login import credentials
from tests.helpers.paths import REPO_ROOT
from tests.helpers.processes import LiveServer, free_port, inherited_env
from tests.helpers.sessions import PUSH_BOUND_SECONDS
from tests.helpers.suites import redis_test_url
from tests.helpers.waiting import wait_for

# The channel is trusted once a probe came back: under AUTHSVC_CHANNEL_DEAF_AFTER_SECONDS (4 s)
# by default; doubled for a loaded machine.
DEAF_BOUND_SECONDS = 8.0

pytestmark = pytest.mark.server

EXAMPLE_DIR = REPO_ROOT / "examples" / "downstream"


def start_example(env: dict[str, str], workdir: Path) -> LiveServer:
    port = free_port()
    command = (
        *(sys.executable, "-m", "uvicorn", "--app-dir", str(EXAMPLE_DIR)),
        *("--factory", "service:create_app_from_environment"),
        *("--host", "127.0.0.1", "--port", str(port)),
    )
    # Neither the test run's AUTHSVC_TEST_* nor a developer's DOWNSTREAM_* settings leak in.
    base = {
        name: value
        for name, value in inherited_env("DOWNSTREAM_").items()
        if not name.startswith("AUTHSVC_")
    }
    server = LiveServer(
        port=port, env={**base, **env}, workdir=workdir, command=command, name="example"
    )
    return server.start()


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], LiveServer]]:
    started: list[LiveServer] = []

    def start(env: dict[str, str]) -> LiveServer:
        server = start_example(env, tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize(
    ("database_url", "source"),
    # Every source once, the database source on both databases; the HTTP and Redis sources do
    # not depend on authsvc's database and are run over both in-process (test_verifier.py,
    # test_push_redis.py), which keeps this two-processes-per-case test to five cases.
    [
        ("sqlite", "database"),
        ("postgresql", "database"),
        ("sqlite", "introspection"),
        ("postgresql", "push-postgres"),
        ("postgresql", "push-redis"),
    ],
    indirect=["database_url"],
)
def test_logout_everywhere_reaches_the_downstream_service(
    database_url: str,
    source: str,
    live_server: StartServer,
    example_server: Callable[[dict[str, str]], LiveServer],
    make_user: MakeUser,
) -> None:
    redis_url = redis_test_url() if source == "push-redis" else ""
    user_id = make_user()
    secret, digest = new_client_secret()
    # The issuer is a name; the example reaches this instance at its own address.
    issuer = "http://authsvc.test"
    authsvc_env = {
        "AUTHSVC_ISSUER": issuer,
        "AUTHSVC_INTROSPECTION_CLIENTS": f"example:{digest}",
    }
    if source == "push-redis":
        authsvc_env["AUTHSVC_REDIS_URL"] = redis_url
    authsvc = live_server(**authsvc_env)
    example = example_server(
        {
            "DOWNSTREAM_AUTHSVC_URL": issuer,
            "DOWNSTREAM_JWKS_URL": f"{authsvc.url}/.well-known/jwks.json",
            "DOWNSTREAM_INTROSPECTION_URL": f"{authsvc.url}/introspect",
            "DOWNSTREAM_VERSION_SOURCE": source,
            "DOWNSTREAM_DATABASE_URL": database_url,
            "DOWNSTREAM_REDIS_URL": redis_url,
            "DOWNSTREAM_INTROSPECTION_CLIENT_ID": "example",
            "DOWNSTREAM_INTROSPECTION_CLIENT_SECRET": secret,
        }
    )

    login = httpx.post(f"{authsvc.url}/login", json=credentials())
    assert login.status_code == 200, login.text
    cookie = {"Cookie": f"authsvc_at={login.cookies['authsvc_at']}"}
    if source.startswith("push"):
        # A push cache trusts its channel once the first probe came back (within the deafness
        # bound): until then every check reads, which would count below.
        wait_for(
            lambda: httpx.get(f"{example.url}/stats").json()["push_trusted"] is True,
            timeout=DEAF_BOUND_SECONDS,
            what="the downstream push cache to trust its channel",
        )
    for _ in range(2):
        hello = httpx.get(f"{example.url}/hello", headers=cookie)
        assert hello.status_code == 200, hello.text
        assert hello.json()["user_id"] == user_id
    before = httpx.get(f"{example.url}/stats").json()
    assert before["cache_hits"] == 1
    if source.startswith("push"):
        assert before["push_trusted"] is True
        assert before["source_reads"] == 1  # the second call was answered from memory

    # A scripted client: the bearer token (a cookie-authenticated POST needs Origin and the
    # CSRF token a browser page sends).
    logout = httpx.post(
        f"{authsvc.url}/logout?everywhere=true", headers=bearer(login.cookies["authsvc_at"])
    )
    assert logout.json() == {"logged_out": True, "everywhere": True}
    logged_out_at = time.monotonic()
    while True:
        refused = httpx.get(f"{example.url}/hello", headers=cookie)
        if refused.status_code != 200 or time.monotonic() - logged_out_at > PUSH_BOUND_SECONDS:
            break
        time.sleep(0.01)
    assert refused.status_code == 401, "the old cookie was still accepted after the push delay"
    assert refused.json()["error"] == "token_revoked"
    after = httpx.get(f"{example.url}/stats").json()
    if source.startswith("push"):
        # The announcement only sent the cache back to the row (it carries no authority); what
        # was read there answers the next refusals from memory.
        assert after["source_reads"] > before["source_reads"]
        assert httpx.get(f"{example.url}/hello", headers=cookie).status_code == 401
        final = httpx.get(f"{example.url}/stats").json()
        assert final["source_reads"] == after["source_reads"], "a refusal read the database"

    again = httpx.post(f"{authsvc.url}/login", json=credentials())
    fresh = {"Cookie": f"authsvc_at={again.cookies['authsvc_at']}"}
    assert httpx.get(f"{example.url}/hello", headers=fresh).status_code == 200
