"""CORS for a frontend on another origin: only an allowed origin is reflected, with credentials,
even on a CSRF refusal; a foreign origin's preflight is refused in the service's error shape and
no answer reflects it; every answer varies on Origin, so a shared cache keeps origins apart."""

from __future__ import annotations

from tests.helpers.csrf import EVIL
from tests.helpers.fixture_types import ClientFactory, MakeSettings


async def test_cors_never_reflects_a_foreign_origin(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    frontend = "https://app.example.com"
    async with client_factory(make_settings(allowed_origins=frontend), browser=False) as client:
        preflight = await client.options(
            "/logout",
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        # Refused in the service's one error shape, saying what was not allowed.
        assert preflight.status_code == 400
        assert preflight.json() == {
            "error": "invalid_request",
            "detail": "Cross-origin request refused: origin not allowed.",
        }
        simple = await client.get("/session", headers={"Origin": EVIL, "Cookie": "a=b"})
        # Without Access-Control-Allow-Origin the browser hides the response from the page.
        assert "access-control-allow-origin" not in simple.headers
        allowed = await client.get("/session", headers={"Origin": frontend})
        assert allowed.headers["access-control-allow-origin"] == frontend
        assert allowed.headers["access-control-allow-credentials"] == "true"
        # A CSRF refusal of an allowed origin stays readable to its page.
        refused = await client.post("/logout", headers={"Origin": frontend, "Cookie": "a=b"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_failed"
        assert refused.headers["access-control-allow-origin"] == frontend
        # Every answer says it depends on the Origin, once, with or without one, so a shared
        # cache never hands one origin's answer to another.
        without = await client.get("/.well-known/jwks.json")
        for response in (simple, allowed, refused, without):
            assert response.headers.get_list("vary") == ["Origin"], response.headers
