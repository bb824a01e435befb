"""The audit trail: security events as rows and structured log lines, never with a secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import post_login

AGENT = "AuditTest/1.0"


async def guess(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await post_login(client, username, "wrong-guess-42")


def detail(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


async def test_security_events_are_recorded_without_secrets(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user_id = make_user()
    settings = make_settings(trusted_proxies="127.0.0.1")
    caplog.set_level(logging.INFO, logger="authsvc.audit")
    secrets_seen: list[str] = [PASSWORD, TEST_SECRET, "wrong-guess-42"]
    async with client_factory(settings) as client:
        client.headers["User-Agent"] = AGENT
        client.headers["X-Forwarded-For"] = "203.0.113.9"
        assert (await guess(client, "alice")).status_code == 401
        assert (await guess(client, "nobody")).status_code == 401
        login = await post_login(client)
        assert login.status_code == 200
        secrets_seen += [client.cookies["authsvc_at"], client.cookies["authsvc_csrf"]]
        assert (await client.post("/logout", params={"everywhere": "true"})).status_code == 200
        for _ in range(6):
            await guess(client, "alice")
    rows = db_query(
        "SELECT event, user_id, client_ip, user_agent, at, detail FROM audit_events ORDER BY id"
    )
    events = [row[0] for row in rows]
    assert events[0] == "key_created"
    assert events[1:6] == [
        "login_failure",
        "login_failure",
        "login_success",
        "logout_everywhere",
        "login_failure",
    ]
    assert events[-1] == "login_throttled"
    by_event = {row[0]: row for row in rows}
    for event in ("login_success", "logout_everywhere"):
        _, who, ip, agent, at, _ = by_event[event]
        assert (who, ip, agent) == (user_id, "203.0.113.9", AGENT)
        assert at is not None
    assert detail(rows[1][5])["reason"] == "wrong_password"
    assert detail(rows[2][5])["reason"] == "unknown_user"
    assert rows[2][1] is None
    key_row = by_event["key_created"]
    assert detail(key_row[5])["alg"] == "ES256"
    # Structured log lines carry the same fields, as attributes a JSON formatter can emit.
    logged = [record for record in caplog.records if record.name == "authsvc.audit"]
    assert [record.audit_event for record in logged] == events  # type: ignore[attr-defined]
    success = next(r for r in logged if r.audit_event == "login_success")  # type: ignore[attr-defined]
    assert (success.user_id, success.client_ip) == (user_id, "203.0.113.9")  # type: ignore[attr-defined]
    # No password, token, CSRF token or key-encryption secret anywhere in rows or log lines.
    private_keys = [row[0] for row in db_query("SELECT private_key_encrypted FROM signing_keys")]
    assert private_keys
    text = repr(rows) + "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records
    )
    for secret in secrets_seen:
        assert secret not in text
    assert "PRIVATE KEY" not in text
    assert all(bytes(blob).hex() not in text for blob in private_keys)
