"""Request ids and the server's log lines: an id a client sends is echoed and a missing or hostile
one replaced by a fresh one, on errors too; a real server writes JSON lines that carry the
request id, so one request's lines can be gathered, and never a password or a token."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import MakeUser, StartServer
from tests.helpers.headers import spa_headers


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.1"})
    assert echoed.headers["x-request-id"] == "edge-7f3a.1"
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    # Every generated id is new, so two requests' log lines never mix.
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    for hostile in (b"a" * 129, b"bad id with spaces", "x\u00e9".encode()):
        replaced = await client.get("/healthz", headers={b"X-Request-ID": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    # Errors carry it too, so a client's complaint can be matched with the log.
    missing = await client.get("/nope", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-404"


@pytest.mark.server
def test_server_logs_json_lines_with_request_ids_and_no_secret(
    live_server: StartServer, make_user: MakeUser
) -> None:
    make_user()
    server = live_server(AUTHSVC_LOG_FORMAT="json", AUTHSVC_ACCESS_LOG="all")
    with httpx.Client(base_url=server.url) as http:
        login = http.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Request-ID": "req-login-1"},
        )
        assert login.status_code == 200
        token = http.cookies["authsvc_at"]
        assert http.get("/session", headers={"X-Request-ID": "req-session-1"}).status_code == 200
        spa = spa_headers(http, server.url)
        out = http.post(
            "/logout", params={"everywhere": "true"}, headers={"X-Request-ID": "req-out-1", **spa}
        )
        assert out.status_code == 200
        assert (
            http.post(
                "/login",
                json={"username": "alice", "password": "a wrong password"},
                headers=spa_headers(http, server.url),
            ).status_code
            == 401
        )
    server.stop()

    log = server.log()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records, log
    by_request: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert "color_message" not in record
        by_request.setdefault(str(record.get("request_id")), []).append(record)
    login_lines = by_request["req-login-1"]
    assert any(line.get("audit_event") == "login_success" for line in login_lines)
    access = next(line for line in login_lines if line["logger"] == "authsvc.access")
    assert access["status"] == 200
    assert access["route"] == "/login"
    assert any(line["logger"] == "authsvc.access" for line in by_request["req-session-1"])
    assert any(line.get("audit_event") == "logout_everywhere" for line in by_request["req-out-1"])
    for secret in (PASSWORD, "a wrong password", token, token.split(".")[2]):
        assert secret not in log
