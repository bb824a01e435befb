"""The workers of one server: a revocation answered by one is refused by every other at once.

Each worker has its own token-version cache, kept current by the push channel like a remote
instance's; the workers also share a counter that the revoking worker moves before it answers,
so the client's next request is refused whichever worker serves it. Here the channel is frozen
(a TCP proxy in front of the listeners, with a deafness bound longer than the test) so that only
that counter can tell the other worker.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from tests.helpers.cli import cli_env
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.login import log_in_at
from tests.helpers.processes import start_server
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.workers import call, pinned_to_two_workers

pytestmark = [pytest.mark.server, pytest.mark.postgres]


def test_a_logout_everywhere_answered_by_one_worker_is_refused_by_the_other_next(
    postgres_url: str, tmp_path: Path
) -> None:
    add_user(postgres_url, "alice", PASSWORD)
    with TcpProxy(5432) as proxy:
        server = start_server(
            {
                **cli_env(postgres_url),
                "AUTHSVC_COOKIE_SECURE": "false",
                "AUTHSVC_WORKERS": "2",
                "AUTHSVC_TOKEN_VERSION_CACHE": "postgres",
                "AUTHSVC_LISTEN_DATABASE_URL": postgres_url.replace(
                    "127.0.0.1:5432", f"127.0.0.1:{proxy.port}"
                ),
                # The frozen channel stays trusted for the whole test: only the shared counter
                # can make the other worker refuse.
                "AUTHSVC_CHANNEL_DEAF_AFTER_SECONDS": "60",
            },
            workdir=tmp_path,
            # Three processes import the whole service, on a loaded 2-core machine.
            timeout=120,
        )
        assert server.process is not None
        pinned: list[http.client.HTTPConnection] = []
        try:
            token = log_in_at(server.url).cookies["authsvc_at"]
            # Pinned after the login: uvicorn closes a connection idle for 5 s, so from here on
            # each is used at once.
            pinned = pinned_to_two_workers(server.process.pid, server.port)
            revoking, other = pinned
            # Both workers trust their cache (their listeners proved the channel).
            deadline = time.monotonic() + 30
            while True:
                # Both connections asked each round, so neither idles out.
                seen = [_trusted_by_both(revoking), _trusted_by_both(other)]
                if seen == [True, True]:
                    break
                assert time.monotonic() < deadline, "the workers never trusted their caches"
                time.sleep(0.2)
            # The other worker has the version cached, as it would in production.
            assert call(other, "GET", "/session", token) == (200, None)
            assert call(other, "GET", "/session", token) == (200, None)

            proxy.freeze()
            assert call(revoking, "POST", "/logout?everywhere=true", token) == (200, None)
            assert call(other, "GET", "/session", token) == (401, "token_revoked")
            assert call(revoking, "GET", "/session", token) == (401, "token_revoked")
        finally:
            for connection in pinned:
                connection.close()
            proxy.thaw()
            server.stop()


def _trusted_by_both(connection: http.client.HTTPConnection) -> bool:
    """Whether /metrics (summed over the workers) counts two trusting caches."""
    connection.request("GET", "/metrics")
    return b"authsvc_token_version_cache_trusted 2.0" in connection.getresponse().read()
