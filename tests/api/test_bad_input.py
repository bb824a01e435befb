"""Bad input of every kind gets a clear 4xx JSON error, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{bad json", "application/json", 400, "invalid_request"),
        (b"[]", "application/json", 400, "invalid_request"),
        (b'{"username": "alice"}', "application/json", 400, "invalid_request"),
        (b'{"username": 7, "password": "x"}', "application/json", 400, "invalid_request"),
        (
            b'{"username": "a", "password": "x", "admin": true}',
            "application/json",
            400,
            "invalid_request",
        ),
        (b'{"username": "\xff\xfe", "password": "x"}', "application/json", 400, "invalid_request"),
        (
            b"username=alice&password=%FF",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (
            b"username=a&username=b&password=x",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (b"===&&&", "application/x-www-form-urlencoded", 400, "invalid_request"),
        (b"username=alice", "text/plain", 415, "unsupported_media_type"),
        (b"--x\r\n", "multipart/form-data; boundary=x", 415, "unsupported_media_type"),
        (b"", "", 415, "unsupported_media_type"),
    ],
    ids=[
        "malformed-json",
        "json-array",
        "missing-password",
        "wrong-type",
        "extra-field",
        "non-utf8",
        "form-non-utf8",
        "form-repeated",
        "form-garbage",
        "text-plain",
        "multipart",
        "no-content-type",
    ],
)
async def test_malformed_login_bodies(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, error: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/login", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "u" * 151, "password": "x"},
        {"username": "alice", "password": "p" * 1025},
        {"username": "", "password": "x"},
    ],
    ids=["long-username", "long-password", "empty-username"],
)
async def test_oversized_or_empty_fields_are_refused_before_hashing(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_a_declared_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/login", content=b"x" * 20_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_a_streamed_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 1024

    response = await client.post(
        "/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_unknown_routes_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    wrong_method = await client.get("/logout")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"


async def test_bad_query_parameter_is_a_clear_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/logout", params={"everywhere": "maybe"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "everywhere" in response.json()["detail"]


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({}, id="no-body"),
        pytest.param(
            {"content": b"{bad json", "headers": {"content-type": "application/json"}},
            id="malformed-json",
        ),
        pytest.param({"json": {"current_password": PASSWORD}}, id="missing-field"),
        pytest.param({"json": {"current_password": 7, "new_password": "x"}}, id="wrong-type"),
    ],
)
async def test_a_malformed_validated_body_is_a_clear_400(
    client: httpx.AsyncClient, make_user: MakeUser, request_body: dict[str, Any]
) -> None:
    """Bodies FastAPI validates answer like the login's own parser: 400 invalid_request."""
    make_user()
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    sent = dict(request_body)
    headers = {**sent.pop("headers", {}), "Authorization": f"Bearer {login.cookies['authsvc_at']}"}
    response = await client.post("/password", **sent, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["detail"]


async def test_a_valid_login_still_works_next_to_all_that(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    response = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


# Well-formed for Python's json module, refused by strict JSON (RFC 8259, I-JSON RFC 7493).
NOT_STRICT_JSON = {
    "overflow-to-infinity": b'{"n": 1e400}',
    "negative-overflow": b'{"n": -1e400}',
    "nan": b'{"n": NaN}',
    "infinity": b'{"n": Infinity}',
    "minus-infinity": b'{"n": -Infinity}',
    "duplicate-name": b'{"n": 1, "n": 2}',
    "nested-duplicate-name": b'{"n": {"a": 1, "a": 1}}',
    "lone-surrogate": b'{"n": "\\ud800"}',
    "lone-surrogate-in-name": b'{"\\udfff": 1}',
    "utf-16": '{"n": 1}'.encode("utf-16"),
}


@pytest.mark.parametrize("body", NOT_STRICT_JSON.values(), ids=NOT_STRICT_JSON.keys())
async def test_session_state_refuses_json_that_is_not_strict(
    client: httpx.AsyncClient, make_user: MakeUser, body: bytes
) -> None:
    """Such values would sit in the `sess` claim, where other JWT libraries choke on them."""
    make_user()
    login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    headers = {
        "Authorization": f"Bearer {login.cookies['authsvc_at']}",
        "Content-Type": "application/merge-patch+json",
    }
    response = await client.patch("/session", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "set-cookie" not in response.headers
    current = await client.get("/session", headers={"Authorization": headers["Authorization"]})
    assert current.json()["session"]["state"] == {}


async def test_every_json_body_is_parsed_strictly(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """Login, password change and sign-up alike: a repeated name is refused, never resolved."""
    make_user()
    async with client_factory(make_settings(registration="open")) as client:
        json_type = {"Content-Type": "application/json"}
        login = await client.post(
            "/login",
            content=f'{{"username": "alice", "password": "x", "password": "{PASSWORD}"}}',
            headers=json_type,
        )
        assert login.status_code == 400, login.text
        assert login.json()["error"] == "invalid_request"
        token = (
            await client.post("/login", json={"username": "alice", "password": PASSWORD})
        ).cookies["authsvc_at"]
        change = await client.post(
            "/password",
            content=(
                f'{{"current_password": "{PASSWORD}", "new_password": "a long new passphrase", '
                '"new_password": "another long passphrase"}'
            ),
            headers={**json_type, "Authorization": f"Bearer {token}"},
        )
        assert change.status_code == 400, change.text
        assert change.json()["error"] == "invalid_request"
        register = await client.post(
            "/register",
            content=b'{"username": "bob", "password": "a sturdy passphrase", "username": "eve"}',
            headers=json_type,
        )
        assert register.status_code == 400, register.text
        assert register.json()["error"] == "invalid_request"
        overflow = await client.post(
            "/register",
            content=b'{"username": "bob", "password": "a sturdy passphrase", "x": 1e999}',
            headers=json_type,
        )
        assert overflow.status_code == 400


@pytest.mark.parametrize("path", ["/register", "/password"])
@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"username=eve", "text/plain"), (b"username=eve", "application/x-www-form-urlencoded")],
)
async def test_a_json_endpoint_refuses_another_media_type_with_415(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    path: str,
    content: bytes,
    content_type: str,
) -> None:
    """As POST /login does: the body's type is named in the answer, not a field error."""
    make_user()
    async with client_factory(make_settings(registration="open")) as client:
        await client.post("/login", json={"username": "alice", "password": PASSWORD})
        response = await client.post(path, content=content, headers={"content-type": content_type})
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
