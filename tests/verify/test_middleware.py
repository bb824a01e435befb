"""The plain ASGI middleware protects a Starlette app like the FastAPI dependency does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from authsvc.verify import DatabaseSource, TokenVerifier, VerifierMiddleware, session_of
from tests.helpers.asgi import SyncClient, sync_asgi_client
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeUser
from tests.helpers.login import bearer_token_sync
from tests.helpers.sessions import logout_everywhere
from tests.helpers.verifiers import verifier_for_app


@pytest.fixture
def verifier(authsvc: SyncClient, database_url: str, clock: FakeClock) -> Iterator[TokenVerifier]:
    verifier = verifier_for_app(authsvc, versions=DatabaseSource(database_url), clock=clock)
    yield verifier
    verifier.close()


def starlette_app(verifier: TokenVerifier, *, roles: Sequence[str] = ()) -> ASGIApp:
    async def me(request: Request) -> JSONResponse:
        session = session_of(request.scope)
        assert request.state.authsvc_session is session
        return JSONResponse({"user": session.user_id})

    async def public(_request: Request) -> JSONResponse:
        return JSONResponse({"public": True})

    app = Starlette(routes=[Route("/me", me), Route("/public/ping", public)])
    return VerifierMiddleware(app, verifier, public_paths=["/public"], roles=roles)


def test_the_middleware_lets_valid_tokens_through_and_answers_401_json(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: MakeUser
) -> None:
    user_id = make_user()
    token = bearer_token_sync(authsvc)
    with sync_asgi_client(starlette_app(verifier), "http://service.test") as service:
        assert service.get("/public/ping").json() == {"public": True}
        anonymous = service.get("/me")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "not_authenticated"
        by_cookie = service.get("/me", headers={"Cookie": f"other=1; authsvc_at={token}"})
        assert by_cookie.json() == {"user": user_id}
        by_bearer = service.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert by_bearer.json() == {"user": user_id}
        logout_everywhere(authsvc, token)
        revoked = service.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
        assert revoked.json()["error"] == "token_revoked"
        assert revoked.headers["www-authenticate"].startswith("Bearer")


def test_the_middleware_enforces_roles_with_403(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: MakeUser
) -> None:
    make_user("alice", roles=["admin"])
    make_user("bob")
    app = starlette_app(verifier, roles=["admin"])
    with sync_asgi_client(app, "http://service.test") as service:
        admin = service.get(
            "/me", headers={"Authorization": f"Bearer {bearer_token_sync(authsvc, 'alice')}"}
        )
        assert admin.status_code == 200
        other = service.get(
            "/me", headers={"Authorization": f"Bearer {bearer_token_sync(authsvc, 'bob')}"}
        )
        assert other.status_code == 403
        assert other.json()["error"] == "forbidden"
